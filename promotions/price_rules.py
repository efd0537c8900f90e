"""Price rules (価格のルール, SPEC §9, seed 002): conditions on the BOOKED time and the item → percent or yen
off; checked by position, the first active rule whose conditions all match applies.

The conditions are read on the reservation's start in JST (not the time of ordering): a date-time range
(its end exclusive), weekdays with 祝 (a national holiday counts as 祝 instead of its weekday, as item
pricing does: inventory.pricing.day_type), a window of the start's time of day (its end exclusive) and the
items / categories (empty = any item). `matching_rule` is the one place that decides, for the price step
and for the admin preview, which says why a rule matched and why the rules above it did not.

The price step (order 10) discounts the reservation lines of an order's draft; the order listener records
which rule gave what (PriceRuleUse), once per order and rule."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format, time_format
from django.utils.translation import gettext

from core.audit import audit_log
from inventory.availability import local
from inventory.pricing import DAY_TYPE_LABELS, HOLIDAY, day_type, japanese_holiday_name
from payments import registry
from promotions.models import PriceRule, PriceRuleUse


def active_rules() -> list[PriceRule]:
    """The active rules in the order they are checked, their items and categories read (three queries)."""
    return list(
        PriceRule.objects.filter(is_active=True)
        .order_by("position", "id")
        .prefetch_related("items", "categories")
    )


def _ids(rule: PriceRule, name: str) -> set[int]:
    if rule.pk is None:
        return set()
    return {each.pk for each in getattr(rule, name).all()}


def _when(dt: datetime) -> str:
    return date_format(local(dt), "DATETIME_FORMAT")


def _days(types) -> str:
    return ", ".join(str(DAY_TYPE_LABELS[t]) for t in sorted(types))


@dataclass(frozen=True)
class RuleCheck:
    """One rule checked against a booking: `matched`, and the conditions as sentences (`reasons`): the ones
    that held when it matched, the ones that failed when it did not."""

    rule: PriceRule
    matched: bool
    reasons: tuple[str, ...]


def check_rule(rule: PriceRule, *, item, starts_at: datetime) -> RuleCheck:
    """Whether `rule` applies to a booking of `item` starting at `starts_at`, with why (see RuleCheck)."""
    start = local(starts_at)
    held: list[str] = []
    failed: list[str] = []

    def condition(ok: bool, yes: str, no: str) -> None:
        (held if ok else failed).append(yes if ok else no)

    if rule.starts_from is not None:
        condition(
            starts_at >= rule.starts_from,
            gettext("starts on or after %(when)s") % {"when": _when(rule.starts_from)},
            gettext("starts before %(when)s") % {"when": _when(rule.starts_from)},
        )
    if rule.starts_until is not None:
        condition(
            starts_at < rule.starts_until,
            gettext("starts before %(when)s") % {"when": _when(rule.starts_until)},
            gettext("starts at or after %(when)s (the rule's end)") % {"when": _when(rule.starts_until)},
        )
    if rule.weekdays:
        kind = day_type(start.date())
        holiday = japanese_holiday_name(start.date())
        day = (
            gettext("%(day)s (a national holiday: %(name)s)")
            % {"day": DAY_TYPE_LABELS[HOLIDAY], "name": holiday}
            if kind == HOLIDAY
            else str(DAY_TYPE_LABELS[kind])
        )
        condition(
            kind in rule.weekdays,
            gettext("the day is %(day)s, one of %(days)s") % {"day": day, "days": _days(rule.weekdays)},
            gettext("the day is %(day)s, not one of %(days)s") % {"day": day, "days": _days(rule.weekdays)},
        )
    clock = start.time().replace(tzinfo=None)
    shown = time_format(clock, "H:i")
    if rule.time_from is not None:
        condition(
            clock >= rule.time_from,
            gettext("starts at %(time)s, not before %(from)s")
            % {"time": shown, "from": rule.time_from.strftime("%H:%M")},
            gettext("starts at %(time)s, before %(from)s")
            % {"time": shown, "from": rule.time_from.strftime("%H:%M")},
        )
    if rule.time_until is not None:
        condition(
            clock < rule.time_until,
            gettext("starts at %(time)s, before %(until)s")
            % {"time": shown, "until": rule.time_until.strftime("%H:%M")},
            gettext("starts at %(time)s, not before %(until)s")
            % {"time": shown, "until": rule.time_until.strftime("%H:%M")},
        )
    items, categories = _ids(rule, "items"), _ids(rule, "categories")
    if items or categories:
        condition(
            item.pk in items or (item.category_id is not None and item.category_id in categories),
            gettext("%(item)s is one of the rule's items or in one of its categories") % {"item": item.name},
            gettext("%(item)s is neither one of the rule's items nor in one of its categories")
            % {"item": item.name},
        )
    if not failed and not held:
        held.append(gettext("the rule has no conditions: it matches every booking"))
    return RuleCheck(rule=rule, matched=not failed, reasons=tuple(failed or held))


def matching_rule(
    item, starts_at: datetime, *, rules: list[PriceRule] | None = None
) -> tuple[PriceRule | None, list[RuleCheck]]:
    """The first active rule (by position) that applies to a booking of `item` starting at `starts_at`, and
    the checks that led there: every rule above it (why it did not match), then the rule itself (why it
    did). (None, every check) when no rule applies."""
    rules = active_rules() if rules is None else rules
    checks: list[RuleCheck] = []
    for rule in rules:
        check = check_rule(rule, item=item, starts_at=starts_at)
        checks.append(check)
        if check.matched:
            return rule, checks
    return None, checks


def discount_yen(rule: PriceRule | None, amount_yen: int) -> int:
    """What `rule` takes off `amount_yen`: percent = floor(amount × pct / 100) (SPEC §2), yen = at most the
    amount; never below 0."""
    if rule is None or amount_yen <= 0:
        return 0
    if rule.kind == PriceRule.Kind.PERCENT:
        return amount_yen * rule.percent // 100
    return max(0, min(rule.yen, amount_yen))


def _line_booking(line) -> tuple[object | None, datetime | None]:
    """The item and start of a draft's or an order's line: from its reservation, else from the optional
    `item` / `starts_at` a booking's confirmation page puts on its LineDraft."""
    reservation = getattr(line, "reservation", None)
    if reservation is not None:
        return reservation.item, reservation.starts_at
    return getattr(line, "item", None), getattr(line, "starts_at", None)


def line_discounts(lines, *, rules: list[PriceRule] | None = None) -> list[tuple[PriceRule | None, int]]:
    """For each line, the rule that prices it (None: no booking, or no rule) and its discount in yen."""
    found: list[tuple[PriceRule | None, int]] = []
    for line in lines:
        item, starts_at = _line_booking(line)
        if item is None or starts_at is None:
            found.append((None, 0))
            continue
        if rules is None:
            rules = active_rules()
        rule, _checks = matching_rule(item, starts_at, rules=rules)
        found.append((rule, discount_yen(rule, line.unit_price_yen * line.quantity)))
    return found


class PriceRuleStep(registry.PriceStep):
    """Step 10 of the pipeline: the first matching rule's discount on each booking line (card and counter
    orders alike: a rule changes the booking's price; a ticket or plan booking makes no order)."""

    order = 10

    def apply(self, *, draft: registry.PriceDraft, options: dict) -> None:
        draft.line_rule_discounts = [amount for _rule, amount in line_discounts(draft.lines)]
        draft.price_rule_discount_yen = sum(draft.line_rule_discounts)


class PriceRuleUses(registry.OrderListener):
    """Records which rule priced a new order, and by how much (PriceRuleUse), once per order and rule."""

    def created(self, *, order, by, system: str, now: datetime, options: dict) -> None:
        if not order.price_rule_discount_yen:
            return
        lines = list(order.lines.select_related("reservation__item").order_by("pk"))
        given: dict[PriceRule, int] = defaultdict(int)
        for rule, amount in line_discounts(lines):
            if rule is not None and amount:
                given[rule] += amount
        now = now or timezone.now()
        PriceRuleUse.objects.bulk_create(
            [
                PriceRuleUse(order=order, rule=rule, discount_yen=amount, at=now)
                for rule, amount in given.items()
            ],
            ignore_conflicts=True,
        )
        for rule, amount in given.items():
            audit_log(
                action="price_rule.applied",
                obj=order,
                payload={"rule": rule.pk, "rule_name": rule.name, "discount_yen": amount},
                by=by,
                system="" if by is not None else (system or "promotions"),
                now=now,
            )

    def reduced(self, *, order, dropped, by, system: str, now: datetime) -> None:
        """An unpaid order lost a week: the rules' recorded discounts follow the weeks left (each line keeps
        its own discount; a rule that priced only the week gone keeps no use)."""
        if not dropped.price_rule_yen:
            return
        uses = list(PriceRuleUse.objects.filter(order=order))
        given: dict[int, int] = defaultdict(int)
        if len(uses) == 1:  # one rule priced the order: its use is what the order still takes off
            given[uses[0].rule_id] = order.price_rule_discount_yen
        else:  # which rule each week left got, as matched now
            lines = list(order.lines.select_related("reservation__item").order_by("pk"))
            for line, (rule, _amount) in zip(lines, line_discounts(lines), strict=True):
                if rule is not None and line.price_rule_discount_yen:
                    given[rule.pk] += line.price_rule_discount_yen
        for use in uses:
            amount = given.get(use.rule_id, 0)
            if amount:
                PriceRuleUse.objects.filter(pk=use.pk).update(discount_yen=amount)
            else:
                use.delete()
        audit_log(
            action="price_rule.reduced",
            obj=order,
            payload={
                "changes": {
                    "price_rule_discount_yen": [
                        order.price_rule_discount_yen + dropped.price_rule_yen,
                        order.price_rule_discount_yen,
                    ]
                }
            },
            by=by,
            system="" if by is not None else (system or "promotions"),
            now=now,
        )


# --- the linter: rules that can never match ------------------------------------------------------------


def _scope_covers(earlier: PriceRule, later: PriceRule) -> bool:
    """Whether every item `later` can apply to is in `earlier`'s scope (an empty scope is every item)."""
    items, categories = _ids(earlier, "items"), _ids(earlier, "categories")
    if not items and not categories:
        return True
    later_items, later_categories = list(later.items.all()), _ids(later, "categories")
    if not later_items and not later_categories:
        return False
    return later_categories <= categories and all(
        item.pk in items or (item.category_id is not None and item.category_id in categories)
        for item in later_items
    )


def _covers(earlier: PriceRule, later: PriceRule) -> bool:
    """Whether `earlier` matches every booking `later` matches (simple, sufficient checks per condition)."""

    def lower(a, b) -> bool:  # earlier's lower bound a is no later than later's b
        return a is None or (b is not None and a <= b)

    def upper(a, b) -> bool:  # earlier's upper bound a is no earlier than later's b
        return a is None or (b is not None and b <= a)

    return (
        lower(earlier.starts_from, later.starts_from)
        and upper(earlier.starts_until, later.starts_until)
        and (not earlier.weekdays or (bool(later.weekdays) and set(later.weekdays) <= set(earlier.weekdays)))
        and lower(earlier.time_from, later.time_from)
        and upper(earlier.time_until, later.time_until)
        and _scope_covers(earlier, later)
    )


def rule_problems(rule: PriceRule, *, now: datetime, earlier: list[PriceRule] = ()) -> list[str]:
    """Why `rule` can never match (or never takes anything off), in words staff read; empty when it can.
    `earlier`: the active rules checked before it."""
    problems: list[str] = []
    if rule.starts_until is not None and rule.starts_until <= now:
        problems.append(
            gettext("Its range ended at %(when)s: no booking from now on can match it.")
            % {"when": _when(rule.starts_until)}
        )
    if (
        rule.starts_from is not None
        and rule.starts_until is not None
        and rule.starts_from >= rule.starts_until
    ):
        problems.append(gettext("Its range is empty: the start is not before the end."))
    if rule.time_from is not None and rule.time_until is not None and rule.time_from >= rule.time_until:
        problems.append(gettext("Its time of day is empty: 'from' is not before 'before'."))
    if (rule.kind == PriceRule.Kind.PERCENT and not rule.percent) or (
        rule.kind == PriceRule.Kind.YEN and not rule.yen
    ):
        problems.append(gettext("It takes nothing off (0 % or 0 yen)."))
    if rule.is_active:
        shadow = next((other for other in earlier if other.pk != rule.pk and _covers(other, rule)), None)
        if shadow is not None:
            problems.append(
                gettext(
                    "It can never apply: rule “%(name)s” (order %(position)s) above it matches every booking "
                    "it matches. Move it up, or narrow the earlier rule."
                )
                % {"name": shadow.name, "position": shadow.position}
            )
    return problems


def rules_warnings(rules: list[PriceRule] | None = None, *, now: datetime) -> dict[int, list[str]]:
    """{rule pk: problems} for every rule with a problem (see rule_problems), rules in checking order."""
    rules = (
        list(PriceRule.objects.order_by("position", "id").prefetch_related("items", "categories"))
        if rules is None
        else rules
    )
    found: dict[int, list[str]] = {}
    earlier: list[PriceRule] = []
    for rule in rules:
        problems = rule_problems(rule, now=now, earlier=earlier)
        if problems:
            found[rule.pk] = problems
        if rule.is_active:
            earlier.append(rule)
    return found


def opening_hours_problem(rule: PriceRule) -> str | None:
    """Whether the rule's weekdays and time of day fall outside every acceptance hour of its chosen items
    (free-type items; a fixed-slot item's events are not checked): then no booking of them can match.
    Reads each chosen item's settings (one query an item): for a rule's own page, not for the list."""
    if not rule.weekdays and rule.time_from is None and rule.time_until is None:
        return None
    from inventory.availability import load_settings
    from inventory.models import Item

    items = list(rule.items.all())
    if not items or any(item.reservation_type != Item.ReservationType.FREE for item in items):
        return None
    days = set(rule.weekdays) or set(DAY_TYPE_LABELS)
    for item in items:
        for hours in load_settings(item).hours.all():
            first = max(hours.opens_at, rule.time_from) if rule.time_from else hours.opens_at
            last = min(hours.closes_at, rule.time_until) if rule.time_until else hours.closes_at
            if hours.weekday in days and first < last:
                return None
    return gettext(
        "None of its items accepts bookings starting on its days within its time of day (their acceptance "
        "hours): it can never apply."
    )
