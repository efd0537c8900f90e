"""Repeat bookings and coupons (issue 15, SPEC §9): a once-only coupon discounts the whole repeat booking
once; a yen discount is shared across the weeks by largest remainder, so cancelling one week refunds that
week's share and the coupon's use comes back only when every week is cancelled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from inventory.models import Reservation
from inventory.repeating import reservation_create_repeating
from inventory.services import reservation_cancel
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, Refund
from payments.reservations import CardPayment, line_shares_yen, order_for_reservation
from payments.tests.money import LATER, MONDAY, NOW, pay_by_card
from payments.tests.test_webhooks import SECRET
from promotions.exceptions import CouponUsedUpError
from promotions.models import Coupon, CouponRedemption
from promotions.tests.factories import CouponFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    with translation.override("en"):
        yield


@pytest.fixture
def room():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=90)
    return ItemFactory(units=[(60, 1000)], stock=5)  # two hours: 2,000 yen a week


def yen_coupon(value=1000, **kwargs) -> Coupon:
    defaults = {"discount_kind": Coupon.DiscountKind.YEN, "discount_value": value, "usage_limit": 1}
    return CouponFactory(**{**defaults, **kwargs})


def repeat(item, member, weeks, code=None):
    return reservation_create_repeating(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        weeks=weeks,
        payment_method="card",
        extras={"coupon": code} if code else None,
        now=NOW,
    )


def test_a_once_only_coupon_discounts_the_repeat_booking_once(room):
    coupon = yen_coupon(1000)
    weeks = repeat(room, MemberFactory(), 3, coupon.code)
    order = order_for_reservation(weeks[0])
    assert (order.subtotal_yen, order.coupon_discount_yen, order.total_yen) == (6000, 1000, 5000)
    assert CouponRedemption.objects.filter(coupon=coupon).count() == 1
    coupon.refresh_from_db()
    assert coupon.used_count == 1
    # and it is used up: nobody else can take it
    with pytest.raises(CouponUsedUpError):
        repeat(room, MemberFactory(), 2, coupon.code)


def test_a_percent_coupon_discounts_the_total_of_all_weeks(room):
    coupon = CouponFactory(discount_value=10, usage_limit=1)
    order = order_for_reservation(repeat(room, MemberFactory(), 4, coupon.code)[0])
    assert (order.coupon_discount_yen, order.total_yen) == (800, 7200)


def test_a_yen_discount_is_shared_by_largest_remainder(room):
    order = order_for_reservation(repeat(room, MemberFactory(), 3, yen_coupon(1000).code)[0])
    shares = line_shares_yen(order)
    assert list(shares.values()) == [1666, 1667, 1667]  # 2,000 less 334 / 333 / 333
    assert sum(shares.values()) == order.total_yen


def test_cancelling_one_week_refunds_its_share_and_leaves_the_coupon_used(
    room, stripe_api, django_capture_on_commit_callbacks
):
    coupon = yen_coupon(1000, gives_back_on_cancel=True)
    member = MemberFactory()
    weeks = repeat(room, member, 3, coupon.code)
    order = pay_by_card(stripe_api, order_for_reservation(weeks[0]), "pi_repeat")
    for week in weeks:
        week.refresh_from_db()
    assert {week.status for week in weeks} == {Reservation.Status.CONFIRMED}
    # the staff are asked about the week's share only
    assert CardPayment().refundable_yen(reservation=weeks[0]) == 1666
    # when the member cancels the first week
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(reservation=weeks[0], by=member, as_staff=False, now=LATER)
    # then that week's share alone goes back, and the order stands, partially cancelled
    [refund] = Refund.objects.filter(order=order)
    assert (refund.amount_yen, refund.state) == (1666, Refund.State.SUCCEEDED)
    order.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.PARTIALLY_CANCELLED, 1666)
    assert Reservation.objects.filter(pk__in=[w.pk for w in weeks[1:]], status="confirmed").count() == 2
    coupon.refresh_from_db()
    assert coupon.used_count == 1
    # when the other two weeks are cancelled
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(reservation=weeks[1], by=member, as_staff=False, now=LATER)
    order.refresh_from_db()
    assert order.refunded_yen == 1666 + 1667
    coupon.refresh_from_db()
    assert coupon.used_count == 1
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(reservation=weeks[2], by=member, as_staff=False, now=LATER)
    # then every yen paid has come back, the order is cancelled and the coupon's use comes back
    order.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.CANCELLED, 5000)
    assert stripe_api.refunded("pi_repeat") == 5000
    coupon.refresh_from_db()
    assert coupon.used_count == 0


def test_cancelling_every_week_keeps_the_use_when_the_coupon_says_so(
    room, stripe_api, django_capture_on_commit_callbacks
):
    coupon = yen_coupon(1000, gives_back_on_cancel=False)
    member = MemberFactory()
    weeks = repeat(room, member, 2, coupon.code)
    pay_by_card(stripe_api, order_for_reservation(weeks[0]), "pi_keep")
    for week in weeks:
        with django_capture_on_commit_callbacks(execute=True):
            reservation_cancel(reservation=week, by=member, as_staff=False, now=LATER)
    coupon.refresh_from_db()
    assert coupon.used_count == 1
    assert stripe_api.refunded("pi_keep") == 3000


def test_cancelling_one_week_of_an_unpaid_repeat_booking_keeps_the_coupon_for_the_others(room):
    coupon = yen_coupon(1000, gives_back_on_cancel=True)
    member = MemberFactory()
    weeks = repeat(room, member, 3, coupon.code)
    order = order_for_reservation(weeks[0])
    reservation_cancel(reservation=weeks[1], by=member, as_staff=False, now=LATER)
    order.refresh_from_db()
    # the order drops the week (payments/tests/test_repeat_unpaid.py): 6,000 - 1,000 → 4,000 - 667
    assert (order.status, order.subtotal_yen, order.coupon_discount_yen) == (Order.Status.PENDING, 4000, 667)
    statuses = dict(Reservation.objects.filter(pk__in=[w.pk for w in weeks]).values_list("pk", "status"))
    assert statuses[weeks[1].pk] == Reservation.Status.CANCELLED
    assert statuses[weeks[0].pk] in Reservation.LIVE_STATUSES
    assert statuses[weeks[2].pk] in Reservation.LIVE_STATUSES
    coupon.refresh_from_db()
    assert coupon.used_count == 1  # the use comes back only when every week is cancelled
    for week in (weeks[0], weeks[2]):
        reservation_cancel(reservation=week, by=member, as_staff=False, now=LATER)
    coupon.refresh_from_db()
    assert coupon.used_count == 0


def test_weeks_are_a_week_apart_at_the_same_local_time(room):
    weeks = repeat(room, MemberFactory(), 2)
    assert weeks[1].starts_at - weeks[0].starts_at == timedelta(weeks=1)


def test_the_cancel_page_says_the_week_s_share_and_that_the_coupon_stays(room, stripe_api):
    coupon = yen_coupon(1000, gives_back_on_cancel=True)
    member = MemberFactory()
    weeks = repeat(room, member, 3, coupon.code)
    assert "takes this week off the order" in CardPayment().cancel_note(reservation=weeks[0])
    pay_by_card(stripe_api, order_for_reservation(weeks[0]), "pi_note")
    translation.activate("en")  # the webhook's request left this thread in the shop's language (Japanese)
    note = CardPayment().cancel_note(reservation=weeks[0])
    assert "share" in note
    assert "1,666" in note
    # nothing of the order is undone by one week: the preview has no coupon or points line
    assert CardPayment().cancel_preview(reservation=weeks[0], now=LATER) is None


def test_with_the_staff_decide_policy_one_week_flags_the_order_and_sends_nothing(room, stripe_api):
    from payments.models import PaymentSettings
    from payments.tests.money import set_refund_policy

    set_refund_policy(PaymentSettings.RefundPolicy.STAFF_DECIDES)
    member = MemberFactory()
    weeks = repeat(room, member, 2)
    order = pay_by_card(stripe_api, order_for_reservation(weeks[0]), "pi_flag")
    reservation_cancel(reservation=weeks[0], by=member, as_staff=False, now=LATER)
    order.refresh_from_db()
    assert (order.status, order.refund_needed) == (Order.Status.PAID, True)
    assert not Refund.objects.exists()
    weeks[1].refresh_from_db()
    assert weeks[1].status == Reservation.Status.CONFIRMED


def test_staff_cancelling_one_week_refund_what_they_chose(
    room, stripe_api, django_capture_on_commit_callbacks
):
    from inventory.payment_methods import RefundChoice

    staff = MemberFactory(is_staff=True)
    weeks = repeat(room, MemberFactory(), 2)
    order = pay_by_card(stripe_api, order_for_reservation(weeks[0]), "pi_staff")
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(
            reservation=weeks[1], by=staff, as_staff=True, now=LATER, refund=RefundChoice(amount_yen=500)
        )
    order.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.PARTIALLY_CANCELLED, 500)


def test_cancelling_the_remaining_weeks_refunds_them_and_gives_the_use_back(
    room, stripe_api, django_capture_on_commit_callbacks
):
    from inventory.repeating import later_weeks, reservation_cancel_remaining_weeks

    coupon = yen_coupon(1000, gives_back_on_cancel=True)
    member = MemberFactory()
    weeks = repeat(room, member, 3, coupon.code)
    order = pay_by_card(stripe_api, order_for_reservation(weeks[0]), "pi_rest")
    assert [w.pk for w in later_weeks(weeks[1])] == [weeks[1].pk, weeks[2].pk]
    assert later_weeks(weeks[2]) == []
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(reservation=weeks[0], by=member, as_staff=False, now=LATER)
    with django_capture_on_commit_callbacks(execute=True):
        done = reservation_cancel_remaining_weeks(reservation=weeks[1], by=member, now=LATER)
    assert [w.pk for w in done] == [weeks[1].pk, weeks[2].pk]
    order.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.CANCELLED, 5000)
    coupon.refresh_from_db()
    assert coupon.used_count == 0


def test_the_member_cancels_every_later_week_from_the_cancel_page(room, client, settings, time_machine):
    from django.urls import reverse

    time_machine.move_to(LATER, tick=False)
    settings.LANGUAGE_CODE = "en"
    member = MemberFactory()
    client.force_login(member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    weeks = repeat(room, member, 3)
    url = reverse("site:reservation_cancel", args=[weeks[1].pk])
    page = client.get(url)
    assert "later_weeks" in page.context["form"].fields
    last = client.get(reverse("site:reservation_cancel", args=[weeks[2].pk]))
    assert "later_weeks" not in last.context["form"].fields
    client.post(url, {"reason": "", "later_weeks": "on"})
    # an unpaid repeat order: the weeks cancelled leave it, the first week stays booked on the order
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses[weeks[1].pk] == statuses[weeks[2].pk] == Reservation.Status.CANCELLED
    assert statuses[weeks[0].pk] in Reservation.LIVE_STATUSES
    order = order_for_reservation(weeks[0])
    assert order.status == Order.Status.PENDING
    assert [line.reservation_id for line in order.lines.all()] == [weeks[0].pk]
