"""Reads about coupons: finding one by what a member typed, and how often a member has used one."""

from __future__ import annotations

from promotions.codes import normalise_code
from promotions.models import Coupon, CouponRedemption


def coupon_by_code(text: str) -> Coupon | None:
    """The coupon a member means by `text` (any case, full- or half-width), or None."""
    code = normalise_code(text)
    if not code:
        return None
    return Coupon.objects.filter(code=code).first()


def member_uses(*, coupon: Coupon | int, member) -> int:
    """The member's standing uses of `coupon` (a use given back on cancel no longer counts)."""
    coupon_id = coupon if isinstance(coupon, int) else coupon.pk
    return CouponRedemption.objects.filter(
        coupon_id=coupon_id, member_id=member.pk, released_at__isnull=True
    ).count()


def order_coupon_code(order) -> str | None:
    """The code of the coupon `order` was priced with (its redemption, kept even once given back), for the
    order's coupon line (payments.registry.register_order_coupon_code); None when no coupon discounted it."""
    return (
        CouponRedemption.objects.filter(order_id=order.pk)
        .order_by("-pk")
        .values_list("coupon__code", flat=True)
        .first()
    )
