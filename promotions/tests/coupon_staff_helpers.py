"""Test helpers for the coupon admin tests: coupons and their uses made directly (the redemption service
has tests of its own; these tests are about what staff see and save)."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db.models import F

from members.tests.factories import MemberFactory
from payments.models import Order
from promotions.models import Coupon, CouponRedemption


def coupon(code="SUMMER10", **fields) -> Coupon:
    fields.setdefault("discount_kind", Coupon.DiscountKind.PERCENT)
    fields.setdefault("discount_value", 10)
    return Coupon.objects.create(code=code, **fields)


def use(coupon: Coupon, *, at, discount_yen=500, member=None, released_at=None) -> CouponRedemption:
    """A redemption of `coupon` by `member` (a new one by default) on a new paid card order; the coupon's
    counter follows its standing uses, as the redemption service keeps it."""
    member = member or MemberFactory()
    order = Order.objects.create(
        member=member,
        payment_method="card",
        status=Order.Status.PAID,
        subtotal_yen=5000,
        coupon_discount_yen=discount_yen,
        total_yen=5000 - discount_yen,
        paid_at=at,
    )
    redemption = CouponRedemption.objects.create(
        coupon=coupon,
        order=order,
        member=member,
        discount_yen=discount_yen,
        redeemed_at=at,
        released_at=released_at,
    )
    if released_at is None:
        Coupon.objects.filter(pk=coupon.pk).update(used_count=F("used_count") + 1)
    return redemption


def staff(*codenames: str):
    user = MemberFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="promotions", codename__in=codenames)
    )
    return user
