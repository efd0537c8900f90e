"""Purchase points (SPEC §8, seed 004 注文・入金ポイント付与): what an order earns, shown before it is paid
(the price pipeline's step 50 fills `draft.points_to_earn`), granted when it is paid, and taken back when
it is cancelled or refunded in full.

What a line earns: its amount after its share of the order's discounts (price rule, member discount, coupon:
shared across all lines in proportion) and of the points spent on the order (shared the same way across
the lines points could pay for), so no points are earned on points; then the product's fixed points per
unit × quantity, or its rate (%), else the shop's base rate (%), rounded down per line. A booking line
earns at the base rate. A line that costs nothing after its discounts and points earns nothing, fixed
points included (nothing was paid for it).

Taking back (seed 004 注文キャンセル時のご注意): the grant comes back out of the member's balance, never below
0. When the member has spent them, the undo stops with how many points are missing — unless the person
undoing chose otherwise (payments.registry.UndoTerms): cancel without taking them back, or take what the
balance allows and deduct the missing points from the refund in yen; a refund made in the Stripe dashboard
cannot be stopped, so it takes what it can and leaves a PointShortfall for staff. The preview a cancel page
shows (`effects`) and the undo itself (`undone`) both come from `take_back_plan`."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core.audit import audit_log
from core.templatetags.core_tags import yen
from payments import registry
from payments.pricing import fold_discount
from points import locks
from points.exceptions import NotEnoughPointsError
from points.models import PointAccount, PointEntry, PointLot, PointSettings, PointShortfall
from points.services import points_grant, points_reverse_grant, points_reverse_use

Kind = PointEntry.Kind
Mode = PointSettings.UsageMode
SYSTEM = "points.purchase"
RESERVATION = "reservation"  # OrderLine.Kind.RESERVATION, without importing payments' models here


# --- what an order earns ----------------------------------------------------------------------------------


def read_settings() -> PointSettings:
    """The shop's point settings, read without writing: the defaults until staff first save them. (Pricing
    runs in every checkout and booking transaction; creating the single row there would make parallel
    first checkouts wait on each other's insert.)"""
    return PointSettings.objects.filter(pk=1).first() or PointSettings(pk=1)


def point_payable(line, *, mode: int) -> bool:
    """Whether points may pay for `line` under the shop's usage mode (ポイント利用区分): every line in modes 1
    and 2 (mode 2 spends none at all on a mixed cart), the point-payable products in 3 (fees excluded) and
    4 (fees included). A booking line is always point-payable."""
    product = getattr(line, "product", None)
    if getattr(line, "kind", "") == RESERVATION or product is None:
        return True
    if mode in (Mode.ALL, Mode.NONE_WHEN_MIXED):
        return True
    if not product.points_payable:
        return False
    return mode == Mode.PAYABLE_ONLY_WITH_FEES or not product.is_fee


def line_amounts_after_discounts(
    *, lines, discount_yen: int, points_used: int, mode: int | None = None
) -> list[int]:
    """What each line costs after its share of `discount_yen` (all lines, in proportion) and of
    `points_used` (the point-payable lines, in proportion), each as payments.pricing.fold_discount shares."""
    if mode is None:
        mode = read_settings().usage_mode
    amounts = fold_discount([line.unit_price_yen * line.quantity for line in lines], discount_yen)
    if points_used:
        payable = [index for index, line in enumerate(lines) if point_payable(line, mode=mode)]
        if not payable:  # points were spent although no line takes them: share them across all lines
            payable = list(range(len(lines)))
        folded = fold_discount([amounts[index] for index in payable], points_used)
        for index, amount in zip(payable, folded, strict=True):
            amounts[index] = max(amount, 0)
    return amounts


def line_points(line, *, amount_yen: int, base_rate_percent: int) -> int:
    """The purchase points one line earns on `amount_yen` (what it costs after discounts and points)."""
    if amount_yen <= 0:
        return 0
    product = getattr(line, "product", None)
    if getattr(line, "kind", "") != RESERVATION and product is not None:
        if product.points_per_unit is not None:
            return product.points_per_unit * line.quantity
        if product.points_rate_pct is not None:
            return amount_yen * product.points_rate_pct // 100
    return amount_yen * base_rate_percent // 100


def points_to_earn(
    *,
    lines,
    price_rule_discount_yen: int = 0,
    member_discount_yen: int = 0,
    coupon_discount_yen: int = 0,
    points_used: int = 0,
    settings: PointSettings | None = None,
) -> list[int]:
    """The purchase points each of `lines` (order lines or line drafts: kind, product, unit_price_yen,
    quantity) earns, rounded down per line. The price step and the grant both call it."""
    settings = settings or read_settings()
    lines = list(lines)
    amounts = line_amounts_after_discounts(
        lines=lines,
        discount_yen=price_rule_discount_yen + member_discount_yen + coupon_discount_yen,
        points_used=points_used,
        mode=settings.usage_mode,
    )
    return [
        line_points(line, amount_yen=amount, base_rate_percent=settings.base_rate_percent)
        for line, amount in zip(lines, amounts, strict=True)
    ]


def order_points_to_earn(order, *, lines=None) -> int:
    """What paying `order` earns (its lines passed in when already read)."""
    lines = list(order.lines.select_related("product").order_by("pk")) if lines is None else list(lines)
    return sum(
        points_to_earn(
            lines=lines,
            price_rule_discount_yen=order.price_rule_discount_yen,
            member_discount_yen=order.member_discount_yen,
            coupon_discount_yen=order.coupon_discount_yen,
            points_used=order.points_used,
        )
    )


# The shop's point settings read once per request by the price step: a list page prices every ticket through
# the pipeline, and its query count must not grow with the rows. Outside requests (tasks, commands) it is
# read every time; saving the settings forgets it.
_request_settings: ContextVar[dict | None] = ContextVar("points_earning_settings", default=None)


def _request_started(**kwargs) -> None:
    _request_settings.set({})


def _request_finished(**kwargs) -> None:
    _request_settings.set(None)


def _settings_saved(**kwargs) -> None:
    cache = _request_settings.get()
    if cache is not None:
        cache.clear()


def _step_settings() -> PointSettings:
    cache = _request_settings.get()
    if cache is None:
        return read_settings()
    if "row" not in cache:
        cache["row"] = read_settings()
    return cache["row"]


class EarningStep(registry.PriceStep):
    """Step 50, after the points spent (40): fills what the order will earn; it never changes the total."""

    order = 50

    def apply(self, *, draft: registry.PriceDraft, options: dict) -> None:
        if getattr(draft.member, "is_staff", False) or not getattr(draft.member, "pk", None):
            draft.points_to_earn = 0
            return
        draft.points_to_earn = sum(
            points_to_earn(
                lines=draft.lines,
                price_rule_discount_yen=draft.price_rule_discount_yen,
                member_discount_yen=draft.member_discount_yen,
                coupon_discount_yen=draft.coupon_discount_yen,
                points_used=draft.points_used,
                settings=_step_settings(),
            )
        )


# --- taking them back -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TakeBackPlan:
    """What undoing an order does to its purchase points. `available`: what the member's balance can give
    by then (what has expired by today left out, the points spent on this order — given back first —
    counted in)."""

    grant: PointEntry
    points: int
    available: int

    @property
    def missing(self) -> int:
        return max(self.points - self.available, 0)

    def outcome(self, terms: registry.UndoTerms) -> str:
        """ "all": taken back in full; "stop": points missing, the undo stops; "keep": staff cancel without
        taking them back; "deduct": what the balance allows, the rest deducted from the refund in yen;
        "forced": what the balance allows, the rest recorded for staff (the money has gone back already)."""
        if not self.missing:
            return "all"
        if terms.keep_granted:
            return "keep"
        if terms.deduct_missing:
            return "deduct"
        if terms.forced:
            return "forced"
        return "stop"

    def taken(self, terms: registry.UndoTerms) -> int:
        outcome = self.outcome(terms)
        if outcome == "all":
            return self.points
        return 0 if outcome in ("keep", "stop") else min(self.available, self.points)

    def effect(self, terms: registry.UndoTerms) -> registry.UndoEffect:
        outcome, missing = self.outcome(terms), self.missing
        values = {"points": self.points, "available": self.available, "missing": missing}
        if outcome == "all":
            text = ngettext(
                "%(points)d purchase point earned on this order is taken back.",
                "%(points)d purchase points earned on this order are taken back.",
                self.points,
            )
            return registry.UndoEffect(text % values)
        if outcome == "keep":
            text = gettext(
                "The %(points)d purchase points earned on this order are not taken back (%(missing)d of them "
                "have been spent); this is recorded."
            )
            return registry.UndoEffect(text % values)
        if outcome == "deduct":
            text = gettext(
                "%(available)d of the %(points)d purchase points earned on this order are taken back; the "
                "%(missing)d points already spent are deducted from the refund (%(yen)s)."
            )
            return registry.UndoEffect(text % {**values, "yen": yen(missing)}, deduct_yen=missing)
        if outcome == "forced":
            text = gettext(
                "%(available)d of the %(points)d purchase points earned on this order are taken back; "
                "%(missing)d points have been spent and cannot be taken back (flagged for staff)."
            )
            return registry.UndoEffect(text % values)
        return registry.UndoEffect(stop_message(self), missing=missing, deduct_yen=missing)


def stop_message(plan: TakeBackPlan) -> str:
    return gettext(
        "The %(points)d purchase points earned on this order cannot be taken back: the member has already "
        "spent %(missing)d of them (%(missing)d points are missing)."
    ) % {"points": plan.points, "missing": plan.missing}


def _usable_balance(account: PointAccount | None, *, now: datetime) -> int:
    """The balance less what has expired by today (JST) without the nightly job having run yet: the points
    a change made now could draw on (services expire them first)."""
    if account is None:
        return 0
    today = timezone.localdate(now)
    if (
        read_settings().expiry_method == PointSettings.ExpiryMethod.WHOLE_BALANCE
        and account.expires_on is not None
        and account.expires_on < today
    ):
        return 0
    due = (
        PointLot.objects.filter(member_id=account.member_id, remaining__gt=0, expires_on__lt=today).aggregate(
            total=Sum("remaining")
        )["total"]
        or 0
    )
    return max(account.balance - due, 0)


def _uses_coming_back(order) -> int:
    """The points spent on `order` that its undo gives back first (not given back yet)."""
    return -(
        PointEntry.objects.filter(order=order, kind=Kind.USE)
        .exclude(Q(reversals__kind=Kind.USE_REVERSAL))
        .aggregate(total=Sum("delta"))["total"]
        or 0
    )


def take_back_plan(order, *, now: datetime, lock: bool = False) -> TakeBackPlan | None:
    """The purchase points `order` granted and not yet taken back, against what the member can give (None
    when there are none). `lock`: under the member's account lock (the undo itself)."""
    grant = (
        PointEntry.objects.filter(order=order, kind=Kind.PURCHASE)
        .exclude(reversals__kind=Kind.GRANT_REVERSAL)
        .first()
    )
    if grant is None or _has_shortfall(order):
        return None
    account = (
        locks.account_for_update(grant.member_id)
        if lock
        else PointAccount.objects.filter(member_id=grant.member_id).first()
    )
    available = _usable_balance(account, now=now) + _uses_coming_back(order)
    return TakeBackPlan(grant=grant, points=grant.delta, available=available)


def _has_shortfall(order) -> bool:
    return PointShortfall.objects.filter(order_id=order.pk).exists()


# --- the listener -----------------------------------------------------------------------------------------


class PurchasePoints(registry.OrderListener):
    """Grants purchase points when an order is paid and takes them back when it is undone."""

    def reduced(self, *, order, dropped, by, system: str, now: datetime) -> None:
        """An unpaid order lost a week: it promises the points of what is left to pay, at the rate of the
        promise (a rate changed since does not change it), in proportion to the amount paid."""
        before = order.total_yen + dropped.paid_yen
        if not order.points_to_earn or before <= 0:
            return
        order.points_to_earn = order.points_to_earn * order.total_yen // before
        order.save(update_fields=["points_to_earn", "updated_at"])

    def paid(self, *, order, by, system: str, now: datetime) -> None:
        """Once per order: a webhook received twice finds the grant (and the unique constraint on an order's
        purchase grant stands behind the check). 0 points: no entry.

        The amount is the one stored when the order was made, which the confirm page and the e-mail showed:
        a rate the shop changes before a counter booking is paid does not change what was promised."""
        if order.member.is_staff or PointEntry.objects.filter(order=order, kind=Kind.PURCHASE).exists():
            return
        amount = order.points_to_earn
        if amount < 1:
            return
        try:
            with transaction.atomic():
                points_grant(
                    member=order.member,
                    amount=amount,
                    kind=Kind.PURCHASE,
                    order=order,
                    by=by,
                    system=system or SYSTEM,
                    now=now,
                )
        except IntegrityError:
            return  # granted a moment ago by the same order paid on another path

    def effects(self, *, order, now: datetime, terms: registry.UndoTerms) -> list[registry.UndoEffect]:
        plan = take_back_plan(order, now=now)
        return [] if plan is None else [plan.effect(terms)]

    def undone(self, *, order, by, system: str, now: datetime, terms: registry.UndoTerms) -> None:
        system = system or SYSTEM
        if take_back_plan(order, now=now) is None:
            return
        # The points spent on this order come back first (points.spending gives them back too; the second
        # call finds them given back), so a member who paid part of the order with points can give them.
        points_reverse_use(order=order, by=by, system=system, now=now)
        plan = take_back_plan(order, now=now, lock=True)
        outcome = plan.outcome(terms)
        if outcome == "stop":
            raise NotEnoughPointsError(stop_message(plan))
        if outcome == "all":
            points_reverse_grant(entry=plan.grant, by=by, system=system, now=now)
            return
        taken = 0
        if outcome != "keep":
            written = points_reverse_grant(entry=plan.grant, by=by, system=system, now=now, short_ok=True)
            taken = sum(-entry.delta for entry in written)
        missing = plan.points - taken if outcome != "keep" else plan.missing
        shortfall = PointShortfall.objects.create(
            order=order,
            member_id=plan.grant.member_id,
            grant=plan.grant,
            resolution={
                "keep": PointShortfall.Resolution.KEPT,
                "deduct": PointShortfall.Resolution.DEDUCTED,
                "forced": PointShortfall.Resolution.FORCED,
            }[outcome],
            points_granted=plan.points,
            points_taken=taken,
            points_missing=missing,
            deducted_yen=missing if outcome == "deduct" else 0,
            created_at=now,
            created_by=by if getattr(by, "pk", None) else None,
            system="" if getattr(by, "pk", None) else system,
        )
        audit_log(
            action=f"points.take_back_{outcome}",
            obj=order,
            by=by,
            system=system,
            now=now,
            payload={
                "shortfall": shortfall.pk,
                "grant": plan.grant.pk,
                "points": plan.points,
                "taken": taken,
                "missing": missing,
                "deducted_yen": shortfall.deducted_yen,
            },
        )


def deducted_yen(order) -> int:
    """What the order's refund is reduced by for purchase points staff chose to deduct (0: none)."""
    return (
        PointShortfall.objects.filter(order=order, resolution=PointShortfall.Resolution.DEDUCTED)
        .values_list("deducted_yen", flat=True)
        .first()
        or 0
    )


def register() -> None:
    """Called from PointsConfig.ready(): the price step, the order listener, the staff attention item and
    the shortfalls' admin."""
    from django.core.signals import request_finished, request_started
    from django.db.models.signals import post_save
    from django.utils.translation import gettext_lazy

    from core.attention import AttentionItem, register_attention
    from points import admin_shortfalls  # noqa: F401 - registers the admin

    request_started.connect(_request_started, dispatch_uid="points.earning.request_started")
    request_finished.connect(_request_finished, dispatch_uid="points.earning.request_finished")
    post_save.connect(_settings_saved, sender=PointSettings, dispatch_uid="points.earning.settings_saved")
    registry.register_price_step("points_earning", EarningStep())
    registry.register_order_listener("points_purchase", PurchasePoints())
    register_attention(
        AttentionItem(
            label=gettext_lazy("Purchase points not taken back after a refund in the Stripe dashboard"),
            count=lambda: PointShortfall.objects.filter(
                resolution=PointShortfall.Resolution.FORCED, handled_at__isnull=True
            ).count(),
            url_name="admin:points_pointshortfall_changelist",
            query="resolution__exact=forced&handled_at__isempty=1",
            permission="points.change_pointshortfall",
        )
    )
