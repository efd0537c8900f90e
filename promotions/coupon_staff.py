"""Staff services for coupons (SPEC §9, seed 002 プロモーションクーポンの設定): saving one coupon from
the admin and creating many from a pasted list of codes (同じ条件クーポンを複数登録する場合、
クーポンコードをリスト入力).

    coupon_problems(coupon, *, used_count=0) -> dict[field, message]   (what is wrong, nothing saved)
    coupon_save(*, coupon, by, now=None) -> Coupon                     (after save: the admin saves M2M)
    parse_codes(codes_text) -> ParsedCodes                             (codes with their line numbers)
    coupons_bulk_create(*, codes_text, conditions, by, now=None) -> list[Coupon]

A coupon that has redemptions keeps them whatever is changed (they point at the coupon's row and store
the discount they gave); its usage limit can only be lowered as far as the uses already made."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from core import limits
from core.audit import audit_log
from core.exceptions import DomainError
from promotions.codes import clean_code, normalise_code
from promotions.models import Coupon

AUDITED_FIELDS = (
    "code",
    "description",
    "valid_from",
    "valid_until",
    "usage_limit",
    "per_member_limit",
    "discount_kind",
    "discount_value",
    "gives_back_on_cancel",
    "is_active",
)
# The conditions a bulk creation copies onto every coupon (its scope, items and categories, besides).
CONDITION_FIELDS = tuple(name for name in AUDITED_FIELDS if name != "code")
# A pasted list is checked and created in one transaction: a few thousand codes at most.
MAX_BULK_CODES = 5000
# Codes are separated by new lines, commas (half- or full-width, 、) and spaces (incl. the ideographic).
_SEPARATORS = re.compile(r"[,\s、，]+")


class CouponRefusedError(DomainError):
    """A coupon's conditions break a rule: `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        name, message = next(iter(errors.items()))
        super().__init__(message, field=name)


class BulkCodesRefusedError(DomainError):
    """A pasted list has codes that cannot be created: `problems` lists (line number, code, message)."""

    def __init__(self, problems: list[tuple[int, str, str]]):
        self.problems = problems
        super().__init__(
            gettext("No coupons were created: %(count)d codes in the list cannot be used.")
            % {"count": len(problems)},
            field="codes",
        )


def code_exists_message(code: str) -> str:
    return gettext("%(code)s exists already.") % {"code": code}


def coupon_problems(coupon: Coupon, *, used_count: int = 0) -> dict[str, str]:
    """What is wrong with `coupon`'s fields (normalising its code first), field by field; empty: nothing.
    `used_count` is the uses already made, which a lowered usage limit must still hold."""
    problems: dict[str, str] = {}
    try:
        coupon.code = clean_code(coupon.code)
    except ValidationError as error:
        problems["code"] = error.messages[0]
    else:
        if Coupon.objects.filter(code=coupon.code).exclude(pk=coupon.pk).exists():
            problems["code"] = code_exists_message(coupon.code)
    problems.update(condition_problems(coupon, used_count=used_count))
    return problems


def condition_problems(coupon: Coupon, *, used_count: int = 0) -> dict[str, str]:
    """The rules on a coupon's conditions (everything but its code)."""
    problems: dict[str, str] = {}
    value = coupon.discount_value
    if value is None:
        problems["discount_value"] = gettext("Enter the discount.")
    elif coupon.discount_kind == Coupon.DiscountKind.PERCENT and not 0 <= value <= limits.MAX_PERCENT:
        problems["discount_value"] = gettext("A percentage discount is between 0 and 100.")
    elif coupon.discount_kind == Coupon.DiscountKind.YEN and value < 0:
        problems["discount_value"] = gettext("A yen discount is 0 or more.")
    elif coupon.discount_kind not in Coupon.DiscountKind.values:
        problems["discount_kind"] = gettext("Choose percent or yen.")
    if coupon.valid_from and coupon.valid_until and coupon.valid_until <= coupon.valid_from:
        problems["valid_until"] = gettext("The end of the validity must be after its start.")
    if coupon.usage_limit and coupon.usage_limit < used_count:
        problems["usage_limit"] = gettext(
            "This coupon has been used %(used)d times already: the usage limit cannot be lower than "
            "%(used)d (or leave it empty for no limit)."
        ) % {"used": used_count}
    return problems


@transaction.atomic
def coupon_save(*, coupon: Coupon, by, now: datetime | None = None) -> Coupon:
    """Create or change `coupon`: its code normalised, every rule checked (CouponRefusedError with the field
    messages; nothing saved then), an audit entry with the fields that changed (old → new). The row is
    locked first, so a redemption cannot slip under a limit being lowered. Its items and categories are
    the caller's (the admin saves them after this, as Django does)."""
    now = now or timezone.now()
    is_new = coupon.pk is None
    stored: dict = {}
    if not is_new:
        stored = (
            Coupon.objects.select_for_update()
            .filter(pk=coupon.pk)
            .values(*AUDITED_FIELDS, "used_count")
            .first()
            or {}
        )
    used_count = stored.get("used_count", 0)
    problems = coupon_problems(coupon, used_count=used_count)
    if problems:
        raise CouponRefusedError(problems)
    coupon.used_count = used_count  # the counter is the redemptions', never the form's
    try:
        with transaction.atomic():
            coupon.save()
    except IntegrityError as error:  # the same code saved by someone else a moment ago
        raise CouponRefusedError({"code": code_exists_message(coupon.code)}) from error
    changes = {
        name: [stored.get(name), getattr(coupon, name)]
        for name in AUDITED_FIELDS
        if is_new or stored.get(name) != getattr(coupon, name)
    }
    audit_log(
        action="coupon.created" if is_new else "coupon.changed",
        obj=coupon,
        by=by,
        payload={"changes": changes},
        now=now,
    )
    return coupon


# --- bulk creation -----------------------------------------------------------------------------------


@dataclass
class ParsedCodes:
    codes: list[tuple[int, str]] = field(default_factory=list)  # (line number, normalised code)
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, as typed, message)

    @property
    def fingerprint(self) -> str:
        """Names the list the staff member confirmed: a changed list is asked about again."""
        return hashlib.sha256("\n".join(code for _line, code in self.codes).encode()).hexdigest()[:16]


def parse_codes(codes_text: str) -> ParsedCodes:
    """The codes of a pasted list, one per line (or separated by commas or spaces), each normalised, with
    their line numbers; invalid codes and repeats within the list as problems. Nothing is read from the
    database."""
    parsed = ParsedCodes()
    first_line: dict[str, int] = {}
    for number, line in enumerate((codes_text or "").splitlines(), start=1):
        for typed in _SEPARATORS.split(normalise_code(line)):
            if not typed:
                continue
            try:
                code = clean_code(typed)
            except ValidationError as error:
                parsed.problems.append((number, typed, error.messages[0]))
                continue
            if code in first_line:
                parsed.problems.append(
                    (
                        number,
                        code,
                        gettext("%(code)s is in the list already (line %(line)d).")
                        % {"code": code, "line": first_line[code]},
                    )
                )
                continue
            first_line[code] = number
            parsed.codes.append((number, code))
    return parsed


def existing_code_problems(codes: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """The codes of the list that are coupons already (one query)."""
    existing = set(
        Coupon.objects.filter(code__in=[code for _line, code in codes]).values_list("code", flat=True)
    )
    return [(line, code, code_exists_message(code)) for line, code in codes if code in existing]


def bulk_check(codes_text: str) -> ParsedCodes:
    """The list parsed, with every problem (invalid, repeated, existing) sorted by line; raises
    BulkCodesRefusedError when there are any, DomainError when the list is empty or too long."""
    parsed = parse_codes(codes_text)
    if not parsed.codes and not parsed.problems:
        raise DomainError(gettext("Enter at least one code."), field="codes")
    if len(parsed.codes) + len(parsed.problems) > MAX_BULK_CODES:
        raise DomainError(
            gettext("At most %(max)d codes at a time.") % {"max": MAX_BULK_CODES}, field="codes"
        )
    problems = parsed.problems + existing_code_problems(parsed.codes)
    if problems:
        raise BulkCodesRefusedError(sorted(problems, key=lambda problem: problem[0]))
    return parsed


@transaction.atomic
def coupons_bulk_create(
    *, codes_text: str, conditions: dict, by, now: datetime | None = None
) -> list[Coupon]:
    """One coupon per code of `codes_text`, each with `conditions` (the CONDITION_FIELDS, and `items` and
    `categories`: the scope), all or nothing: an invalid code, a code twice in the list or a code that is a
    coupon already refuses the whole list (BulkCodesRefusedError, naming each line); conditions that break a
    rule refuse it too (CouponRefusedError). An audit entry per coupon, naming the list it came with."""
    now = now or timezone.now()
    conditions = dict(conditions)
    items = list(conditions.pop("items", None) or [])
    categories = list(conditions.pop("categories", None) or [])
    unknown = set(conditions) - set(CONDITION_FIELDS)
    if unknown:
        raise ValueError(f"coupons_bulk_create: not a coupon condition: {sorted(unknown)}")
    problems = condition_problems(Coupon(**conditions))
    if problems:
        raise CouponRefusedError(problems)
    parsed = bulk_check(codes_text)
    coupons = [Coupon(code=code, **conditions) for _line, code in parsed.codes]
    for coupon in coupons:
        coupon.full_clean(exclude=["code"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            created = Coupon.objects.bulk_create(coupons)
    except IntegrityError as error:  # a code of the list created by someone else meanwhile
        raise BulkCodesRefusedError(existing_code_problems(parsed.codes)) from error
    if items:
        Coupon.items.through.objects.bulk_create(
            Coupon.items.through(coupon_id=coupon.pk, item_id=item.pk) for coupon in created for item in items
        )
    if categories:
        Coupon.categories.through.objects.bulk_create(
            Coupon.categories.through(coupon_id=coupon.pk, category_id=category.pk)
            for coupon in created
            for category in categories
        )
    payload_conditions = {name: conditions.get(name) for name in conditions}
    for coupon in created:
        audit_log(
            action="coupon.created",
            obj=coupon,
            by=by,
            payload={
                "bulk": len(created),
                "conditions": payload_conditions,
                "items": [item.pk for item in items],
                "categories": [category.pk for category in categories],
            },
            now=now,
        )
    return created
