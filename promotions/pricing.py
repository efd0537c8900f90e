"""The coupon step of the price pipeline (SPEC §9, seed 002 クーポン): order 30, after the price rule and the
member discount, before points.

The member's code comes as `options["coupon"]`. The coupon must be active, inside its window at the moment
the order is made (end exclusive: "until 10:00" works at 09:59:59, not at 10:00:00), have uses left in all
and for this member, and apply to at least one line. It discounts the lines in scope only, each at its
amount after the earlier discounts (shared in proportion, payments.pricing.fold_discount):
  percent: floor(scoped amount × pct / 100) (SPEC §2) — 100 % makes it free, 0 % is a give-away marker;
  yen:     min(value, scoped amount) — never below 0.
Scope: a reservation line whose item is one of the coupon's items or in one of its categories; product lines
only when the coupon has no scope (it then applies to everything).

Here the counts are read without a lock, for the page and for a refusal's message; the redemption
(promotions.redemption, in the order's transaction) takes the use with a conditional UPDATE and checks the
member's uses under a lock, so a use taken meanwhile still stops the order."""

from __future__ import annotations

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from payments import registry
from payments.models import Order, OrderLine
from payments.pricing import fold_discount
from promotions import selectors
from promotions.exceptions import CouponError, CouponMemberLimitError, CouponUsedUpError
from promotions.models import Coupon

# A ticket or plan booking costs no money and makes no such order (SPEC §9): it takes no coupon.
COUPON_METHODS = (Order.Method.CARD, Order.Method.COUNTER)


def line_item(line):
    """The booked item of a line (a preview line carries it; an order's line has its reservation), or None
    for a product line."""
    item = getattr(line, "item", None)
    if item is not None:
        return item
    reservation = getattr(line, "reservation", None)
    return reservation.item if reservation is not None else None


def in_scope(coupon: Coupon, lines: list) -> list[bool]:
    """For each line, whether `coupon` applies to it."""
    item_ids = {item.pk for item in coupon.items.all()}
    category_ids = {category.pk for category in coupon.categories.all()}
    if not item_ids and not category_ids:
        return [True] * len(lines)
    flags = []
    for line in lines:
        item = line_item(line)
        flags.append(
            item is not None
            and (item.pk in item_ids or (item.category_id is not None and item.category_id in category_ids))
        )
    return flags


def scoped_amount_yen(coupon: Coupon, draft: registry.PriceDraft) -> int:
    """What the lines in scope cost after the price rule and the member discount."""
    amounts = fold_discount(
        [line.unit_price_yen * line.quantity for line in draft.lines],
        draft.price_rule_discount_yen + draft.member_discount_yen,
    )
    return sum(
        amount for amount, scoped in zip(amounts, in_scope(coupon, draft.lines), strict=True) if scoped
    )


def discount_yen(coupon: Coupon, amount_yen: int) -> int:
    if coupon.discount_kind == Coupon.DiscountKind.PERCENT:
        return amount_yen * coupon.discount_value // 100
    return max(0, min(coupon.discount_value, amount_yen))


def _when(value) -> str:
    return date_format(timezone.localtime(value), "Y-m-d H:i")


def check_window(coupon: Coupon, now) -> None:
    if not coupon.is_active:
        raise CouponError(gettext("This coupon can no longer be used."))
    if coupon.valid_from is not None and now < coupon.valid_from:
        raise CouponError(
            gettext("This coupon is not valid yet: it can be used from {start}.").format(
                start=_when(coupon.valid_from)
            )
        )
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise CouponError(
            gettext("This coupon has expired (it could be used until {end}).").format(
                end=_when(coupon.valid_until)
            )
        )


def used_up_error() -> CouponUsedUpError:
    return CouponUsedUpError(gettext("This coupon has been used up."))


def member_limit_error(coupon: Coupon) -> CouponMemberLimitError:
    if coupon.per_member_limit == 1:
        return CouponMemberLimitError(gettext("You have already used this coupon."))
    return CouponMemberLimitError(
        gettext("You have already used this coupon {count} times, as often as it allows.").format(
            count=coupon.per_member_limit
        )
    )


def check_uses(coupon: Coupon, member) -> None:
    if coupon.usage_limit and coupon.used_count >= coupon.usage_limit:
        raise used_up_error()
    if (
        coupon.per_member_limit
        and selectors.member_uses(coupon=coupon, member=member) >= coupon.per_member_limit
    ):
        raise member_limit_error(coupon)


def unknown_code_error() -> CouponError:
    return CouponError(gettext("There is no coupon with this code. Check the code and try again."))


def coupon_for(*, code: str, draft: registry.PriceDraft) -> tuple[Coupon, int]:
    """The coupon `code` names for `draft` and the discount it gives, or CouponError saying why not."""
    if draft.payment_method not in COUPON_METHODS:
        raise CouponError(gettext("Coupons can be used only when paying by card or at the counter."))
    coupon = selectors.coupon_by_code(code)
    if coupon is None:
        raise unknown_code_error()
    check_window(coupon, draft.now or timezone.now())
    check_uses(coupon, draft.member)
    flags = in_scope(coupon, draft.lines)
    if not any(flags):
        if any(line.kind == OrderLine.Kind.RESERVATION for line in draft.lines):
            raise CouponError(gettext("This coupon does not apply to this booking."))
        raise CouponError(gettext("This coupon does not apply to this order."))
    return coupon, discount_yen(coupon, scoped_amount_yen(coupon, draft))


class CouponStep(registry.PriceStep):
    """The coupon the member entered (`options["coupon"]`); its discount is `draft.coupon_discount_yen`.
    The coupon found is kept on the draft (`draft.coupon`) for the page that shows it."""

    order = 30

    def apply(self, *, draft: registry.PriceDraft, options: dict) -> None:
        code = options.get("coupon")
        if not code:
            return
        coupon, discount = coupon_for(code=str(code), draft=draft)
        draft.coupon_discount_yen = discount
        draft.coupon = coupon
