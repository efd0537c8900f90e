"""Coupons following orders (SPEC §9, issue 15): the coupon an order was priced with is redeemed when the
order is written, in its transaction, and its use is given back when the order is cancelled or refunded in
full — only when the coupon says so (`gives_back_on_cancel`; seed 002 warns that free cancellation lets
members recover uses).

Under concurrency (50 members redeeming the last use at the same instant: exactly one succeeds):
- the use is taken by one conditional UPDATE (`used_count = used_count + 1 WHERE used_count < usage_limit`),
  so the check and the write are one statement on the coupon's row; the loser's UPDATE, run after the
  winner commits, re-evaluates the condition on the new row and matches nothing. The CHECK
  coupon_used_within_limit is the database's last word.
- the per-member limit is a count of rows, which no single UPDATE can guard, so it is checked under a
  transaction-scoped advisory lock on (coupon, member). That lock, not `SELECT … FOR UPDATE` on the coupon,
  because it serialises only the same member's redemptions of the same coupon; the coupon's row lock would
  queue every member's redemption behind the count query as well. Lock order: the advisory lock, then the
  coupon row (the UPDATE); giving back takes the coupon row last too, so the two never deadlock.
A refusal rolls the whole order back, and with it the booking around it."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import request_context
from core.audit import audit_log
from core.locks import advisory_xact_lock
from inventory import booking_extras
from payments import checkout_extras, registry
from promotions import pricing, selectors, throttle
from promotions.codes import MAX_CODE_LENGTH, clean_code
from promotions.models import Coupon, CouponRedemption


def take_use(*, coupon_id: int, now: datetime) -> bool:
    """Count one use of the coupon, when it has one left; False when it has none (one statement)."""
    has_use_left = Q(usage_limit__isnull=True) | Q(usage_limit=0) | Q(used_count__lt=F("usage_limit"))
    return bool(
        Coupon.objects.filter(has_use_left, pk=coupon_id).update(
            used_count=F("used_count") + 1, updated_at=now
        )
    )


def give_use_back(*, coupon_id: int, now: datetime) -> None:
    Coupon.objects.filter(pk=coupon_id, used_count__gt=0).update(
        used_count=F("used_count") - 1, updated_at=now
    )


def _actor(by, system: str) -> dict:
    if by is not None and getattr(by, "pk", None) is not None:
        return {"by": by}
    return {"by": None, "system": system or "order"}


def coupon_redeem(*, order, code: str, by, system: str = "", now: datetime) -> CouponRedemption:
    """Redeem the coupon `code` for `order` (already priced with it), inside the order's transaction."""
    coupon = selectors.coupon_by_code(code)
    if coupon is None:
        raise pricing.unknown_code_error()
    if coupon.per_member_limit:
        advisory_xact_lock(f"promotions.coupon-member:{coupon.pk}:{order.member_id}")
        coupon.refresh_from_db(fields=["per_member_limit"])
        if (
            coupon.per_member_limit
            and selectors.member_uses(coupon=coupon, member=order.member) >= coupon.per_member_limit
        ):
            raise pricing.member_limit_error(coupon)
    if not take_use(coupon_id=coupon.pk, now=now):
        raise pricing.used_up_error()
    redemption = CouponRedemption.objects.create(
        coupon=coupon,
        order=order,
        member_id=order.member_id,
        discount_yen=order.coupon_discount_yen,
        redeemed_at=now,
    )
    audit_log(
        action="coupon.redeemed",
        obj=coupon,
        payload={"code": coupon.code, "order": order.pk, "discount_yen": order.coupon_discount_yen},
        now=now,
        **_actor(by, system),
    )
    return redemption


def standing_redemptions(order) -> list[CouponRedemption]:
    return list(
        CouponRedemption.objects.filter(order=order, released_at__isnull=True)
        .select_related("coupon")
        .order_by("pk")
    )


def coupon_release(*, order, by, system: str = "", now: datetime) -> list[CouponRedemption]:
    """Give back the uses of `order`'s coupons that say so; once (a redemption released stays released)."""
    released = []
    for redemption in standing_redemptions(order):
        coupon = redemption.coupon
        if not coupon.gives_back_on_cancel:
            audit_log(
                action="coupon.kept",
                obj=coupon,
                payload={"code": coupon.code, "order": order.pk},
                now=now,
                **_actor(by, system),
            )
            continue
        # the conditional UPDATE makes a second undo (or a racing one) give nothing back twice
        if not CouponRedemption.objects.filter(pk=redemption.pk, released_at__isnull=True).update(
            released_at=now
        ):
            continue
        give_use_back(coupon_id=coupon.pk, now=now)
        audit_log(
            action="coupon.released",
            obj=coupon,
            payload={"code": coupon.code, "order": order.pk},
            now=now,
            **_actor(by, system),
        )
        released.append(redemption)
    return released


def release_text(coupon: Coupon) -> str:
    if coupon.gives_back_on_cancel:
        return gettext("The coupon {code} can be used again.").format(code=coupon.code)
    return gettext("The coupon {code}'s use is not given back.").format(code=coupon.code)


class CouponRedemptions(registry.OrderListener):
    def created(self, *, order, by, system: str, now: datetime, options: dict) -> None:
        code = options.get("coupon")
        if code:
            coupon_redeem(order=order, code=str(code), by=by, system=system, now=now)

    def effects(self, *, order, now: datetime, terms: registry.UndoTerms) -> list[registry.UndoEffect]:
        return [registry.UndoEffect(text=release_text(each.coupon)) for each in standing_redemptions(order)]

    def undone(self, *, order, by, system: str, now: datetime, terms: registry.UndoTerms) -> None:
        coupon_release(order=order, by=by, system=system or "order_undone", now=now)

    def reduced(self, *, order, dropped, by, system: str, now: datetime) -> None:
        """An unpaid order lost a week: the use stays taken (the coupon discounts the weeks left, once), and
        the discount recorded for it is what the order now takes off."""
        if not dropped.coupon_yen:
            return
        for redemption in standing_redemptions(order):
            CouponRedemption.objects.filter(pk=redemption.pk).update(discount_yen=order.coupon_discount_yen)
            audit_log(
                action="coupon.reduced",
                obj=redemption.coupon,
                payload={
                    "code": redemption.coupon.code,
                    "order": order.pk,
                    "changes": {"discount_yen": [redemption.discount_yen, order.coupon_discount_yen]},
                },
                now=now,
                **_actor(by, system),
            )


# --- the coupon code field ------------------------------------------------------------------------------


class CouponCodeField(forms.CharField):
    """A coupon code as typed (any case, full- or half-width), cleaned to its stored form. An unknown code
    counts against the member and the address (promotions.throttle); once throttled, every code is refused
    for a while. Whether the coupon applies (window, uses, scope) is the price step's check."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Coupon code"))
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", MAX_CODE_LENGTH * 4)  # full-width input, spaces around it
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"})
        )
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return ""
        request = request_context.current_request()
        member = request_context.current_member()
        if member is not None and member.is_staff:
            # Staff typing a customer's code on the phone can read every coupon in the admin anyway: no
            # guessing to stop, and their mistakes must not lock out the shop's own address.
            return self._known_code(value)
        member_id = member.pk if member is not None else None
        ip = request_context.client_ip(request)
        if throttle.is_throttled(member_id=member_id, ip=ip):
            raise ValidationError(throttle_message(), code="throttled")
        try:
            code = clean_code(value)
        except ValidationError:
            self._count_unknown(request, member_id, ip, value)
            raise
        if not Coupon.objects.filter(code=code).exists():
            self._count_unknown(request, member_id, ip, code)
            raise ValidationError(pricing.unknown_code_error().message, code="unknown")
        return code

    @staticmethod
    def _known_code(value: str) -> str:
        code = clean_code(value)
        if not Coupon.objects.filter(code=code).exists():
            raise ValidationError(pricing.unknown_code_error().message, code="unknown")
        return code

    @staticmethod
    def _count_unknown(request, member_id, ip, code) -> None:
        # A page may clean the same posted field twice (the booking's final step, then its confirm page
        # again): one try counts once per request.
        if request is not None:
            counted = request.__dict__.setdefault("_unknown_coupons_counted", set())
            if code in counted:
                return
            counted.add(code)
        throttle.record_unknown(member_id=member_id, ip=ip)


def throttle_message() -> str:
    return gettext("Too many unknown coupon codes; try again in 10 minutes.")


class CouponForBooking(booking_extras.BookingExtra):
    """The booking confirm page's "Coupon code" (card and counter bookings: the methods that make an
    order)."""

    key = "coupon"

    def form_field(self) -> forms.Field:
        return CouponCodeField()

    def offered(self, *, member, item, quote, methods) -> bool:
        return any(method.key in pricing.COUPON_METHODS for method in methods)

    def note(self, *, member, item, quote, methods) -> str:
        if all(method.key in pricing.COUPON_METHODS for method in methods):
            return ""
        return gettext("Coupons can be used only when paying by card or at the counter.")


class CouponForOrder(checkout_extras.OrderExtra):
    """A product order's confirm page (a ticket's purchase): "Coupon code", for an order that costs money
    and is paid by card or at the counter."""

    key = "coupon"

    def form_field(self) -> forms.Field:
        return CouponCodeField()

    def offered(self, *, draft) -> bool:
        return draft.payment_method in pricing.COUPON_METHODS and draft.total_yen > 0


def register() -> None:
    registry.register_price_step("coupon", pricing.CouponStep())
    registry.register_order_listener("coupon_redemptions", CouponRedemptions())
    booking_extras.register(CouponForBooking())
    checkout_extras.register(CouponForOrder())
