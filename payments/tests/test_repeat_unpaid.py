"""Cancelling one week of a repeat booking (issue 15, SPEC §9) takes off exactly that week's part:
- paid: the week's share is refunded, its own price rule discount counted for that week only;
- unpaid: the pending order drops the week's line and asks that much less (order_reduce); the other weeks
  stay booked with their coupon use and points, and the points of the week gone come back."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import translation

from inventory.models import Reservation
from inventory.repeating import reservation_create_repeating
from inventory.services import reservation_cancel
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, Payment, Refund
from payments.pricing import line_shares
from payments.reservations import line_shares_yen, order_for_reservation
from payments.services import order_checkout_start
from payments.tests.money import LATER, MONDAY, NOW, pay_by_card
from payments.tests.test_webhooks import SECRET
from points.models import PointEntry, PointLot, PointSettings
from points.selectors import balance_of
from points.services import points_grant
from promotions.models import Coupon, CouponRedemption, PriceRule, PriceRuleUse
from promotions.tests.factories import CouponFactory

pytestmark = pytest.mark.django_db

WEEK_2 = MONDAY + timedelta(weeks=1)


@pytest.fixture(autouse=True)
def _english(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    with translation.override("en"):
        yield


@pytest.fixture
def room():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=90)
    return ItemFactory(units=[(60, 1000)], stock=5)  # two hours: 2,000 yen a week


def week_2_rule(yen=500) -> PriceRule:
    """A price rule matching the second week only (a day's range: its 祝日 sale, say)."""
    return PriceRule.objects.create(
        name="week two",
        position=1,
        kind=PriceRule.Kind.YEN,
        yen=yen,
        starts_from=jst(WEEK_2, "00:00"),
        starts_until=jst(WEEK_2 + timedelta(days=1), "00:00"),
    )


def book(item, member, weeks, *, method="counter", coupon=None, points=None):
    extras = {}
    if coupon:
        extras["coupon"] = coupon.code
    if points:
        extras["points"] = points
    return reservation_create_repeating(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        weeks=weeks,
        payment_method=method,
        extras=extras or None,
        now=NOW,
    )


def amounts(order: Order) -> tuple[int, ...]:
    order.refresh_from_db()
    return (
        order.subtotal_yen,
        order.price_rule_discount_yen,
        order.coupon_discount_yen,
        order.points_used,
        order.total_yen,
    )


def with_points(amount=5000):
    member = MemberFactory()
    points_grant(member=member, amount=amount, kind=PointEntry.Kind.SIGNUP, by=None, system="test", now=NOW)
    return member


# --- the price rule discount is each week's own ------------------------------------------------------------


def test_each_line_keeps_its_own_price_rule_discount(room):
    week_2_rule(500)
    weeks = book(room, MemberFactory(), 3)
    order = order_for_reservation(weeks[0])
    assert order.price_rule_discount_yen == 500
    assert [line.price_rule_discount_yen for line in order.lines.order_by("pk")] == [0, 500, 0]
    shares = line_shares_yen(order)
    assert list(shares.values()) == [2000, 1500, 2000]


def test_a_paid_week_without_the_rule_refunds_its_full_price(room, stripe_api):
    week_2_rule(500)
    member = MemberFactory()
    weeks = book(room, member, 3, method="card")
    order = pay_by_card(stripe_api, order_for_reservation(weeks[0]), "pi_rule")
    assert order.total_yen == 5500
    reservation_cancel(reservation=weeks[0], by=member, now=LATER)
    # the week without the rule paid 2,000 yen, not 2,000 less a third of the other week's 500
    assert list(Refund.objects.filter(order=order).values_list("amount_yen", flat=True)) == [2000]
    reservation_cancel(reservation=weeks[1], by=member, now=LATER)
    assert sorted(Refund.objects.filter(order=order).values_list("amount_yen", flat=True)) == [1500, 2000]


# --- an unpaid repeat order is reduced, not cancelled -----------------------------------------------------


def test_cancelling_one_unpaid_week_reduces_the_order_by_that_week(room):
    week_2_rule(500)
    coupon = CouponFactory(
        discount_kind=Coupon.DiscountKind.YEN, discount_value=1000, usage_limit=1, gives_back_on_cancel=True
    )
    member = with_points(5000)
    weeks = book(room, member, 3, coupon=coupon, points=600)
    order = order_for_reservation(weeks[0])
    assert amounts(order) == (6000, 500, 1000, 600, 3900)
    assert balance_of(member) == 4400
    lines = list(order.lines.order_by("pk"))
    first_week = line_shares(order, lines)[0]

    reservation_cancel(reservation=weeks[0], by=member, now=LATER)

    # the other weeks stand, on the same pending order, which asks exactly the first week's part less
    weeks[1].refresh_from_db()
    weeks[2].refresh_from_db()
    assert weeks[1].is_live
    assert weeks[2].is_live
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert [line.reservation_id for line in order.lines.order_by("pk")] == [weeks[1].pk, weeks[2].pk]
    assert first_week.paid_yen == 3900 - order.total_yen
    assert amounts(order) == (
        4000,
        500,  # the rule's discount was the second week's: all of it stays
        1000 - first_week.coupon_yen,
        600 - first_week.points_yen,
        3900 - first_week.paid_yen,
    )
    assert order.total_yen == (
        order.subtotal_yen - order.price_rule_discount_yen - order.coupon_discount_yen - order.points_used
    )
    # the coupon's use stays taken for the weeks left; its recorded discount follows the order
    coupon.refresh_from_db()
    assert coupon.used_count == 1
    assert CouponRedemption.objects.get(order=order).discount_yen == order.coupon_discount_yen
    # the week's points come back, as a cancellation gives them back (a new lot valid a period from today)
    assert balance_of(member) == 4400 + first_week.points_yen
    back = PointLot.objects.filter(member_id=member.pk, expires_on=date(2028, 6, 2)).get()
    assert back.remaining == first_week.points_yen
    assert PriceRuleUse.objects.get(order=order).discount_yen == 500


def test_every_week_cancelled_one_by_one_leaves_nothing_taken(room):
    week_2_rule(500)
    coupon = CouponFactory(
        discount_kind=Coupon.DiscountKind.YEN, discount_value=1000, usage_limit=1, gives_back_on_cancel=True
    )
    member = with_points(5000)
    weeks = book(room, member, 3, coupon=coupon, points=600)
    order = order_for_reservation(weeks[0])
    reservation_cancel(reservation=weeks[1], by=member, now=LATER)
    # the rule's week gone: its discount and its recorded use go with it
    assert amounts(order)[1] == 0
    assert not PriceRuleUse.objects.filter(order=order).exists()
    reservation_cancel(reservation=weeks[0], by=member, now=LATER)
    assert order.lines.count() == 1
    reservation_cancel(reservation=weeks[2], by=member, now=LATER)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    coupon.refresh_from_db()
    assert coupon.used_count == 0
    assert balance_of(member) == 5000
    assert set(Reservation.objects.values_list("status", flat=True)) == {Reservation.Status.CANCELLED}


def test_reducing_promises_the_points_of_what_is_left_to_pay(room):
    PointSettings.current()
    PointSettings.objects.update(base_rate_percent=1)
    member = MemberFactory()
    weeks = book(room, member, 3)
    order = order_for_reservation(weeks[0])
    assert order.points_to_earn == 60
    reservation_cancel(reservation=weeks[2], by=member, now=LATER)
    order.refresh_from_db()
    assert (order.total_yen, order.points_to_earn) == (4000, 40)


def test_the_cancel_page_says_what_the_unpaid_order_will_ask(room):
    from payments.counter import AtCounter

    member = with_points(5000)
    weeks = book(room, member, 2, points=300)
    preview = AtCounter().cancel_preview(reservation=weeks[0], now=LATER)
    assert preview is not None
    text = " ".join(preview.lines)
    assert "¥1,850" in text
    assert "¥3,700" in text
    assert "150 points" in text
    assert "takes this week off the order" in AtCounter().cancel_note(reservation=weeks[0])


def test_a_checkout_opened_for_the_old_amount_is_refunded_whole_if_paid(room, stripe_api):
    member = MemberFactory()
    weeks = book(room, member, 2, method="card")
    order = order_for_reservation(weeks[0])
    started = order_checkout_start(
        order=order, by=member, success_url="http://t/ok", cancel_url="http://t/no"
    )
    assert started.payment.amount_yen == 4000
    reservation_cancel(reservation=weeks[1], by=member, now=LATER)
    started.payment.refresh_from_db()
    assert started.payment.state == Payment.State.CANCELLED
    order.refresh_from_db()
    assert (order.status, order.total_yen, order.stripe_checkout_session_id) == (
        Order.Status.PENDING,
        2000,
        "",
    )
    # the member paid the old session anyway: that money goes back whole; the order still asks 2,000 yen
    stripe_api.add_payment("pi_old", 4000)
    from django.test import Client

    from payments.tests.test_webhooks import event, post, session_completed, sign

    session = session_completed(order, id=started.payment.stripe_checkout_session_id, payment_intent="pi_old")
    session["amount_total"] = 4000
    session["metadata"] = {**(session.get("metadata") or {}), "payment_id": str(started.payment.pk)}
    payload = event("checkout.session.completed", session, event_id="evt_old_amount")
    assert post(Client(), payload, sign(payload)).status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert list(Refund.objects.filter(order=order).values_list("amount_yen", flat=True)) == [4000]
    # a new checkout asks the new amount
    again = order_checkout_start(order=order, by=member, success_url="http://t/ok", cancel_url="http://t/no")
    assert again.payment.pk != started.payment.pk
    assert again.payment.amount_yen == 2000


@pytest.mark.django_db(transaction=True)
def test_two_weeks_cancelled_at_the_same_instant_each_take_off_exactly_their_part():
    """Two tabs cancel weeks 1 and 2 of an unpaid 3-week order at once: the order's lock serialises the two
    reductions, so the order ends with week 3 alone at its own part, and every point of weeks 1 and 2 is
    back — never one reduction computed from the other's stale amounts."""
    from tests.parallel import run_together

    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=90)
    room = ItemFactory(units=[(60, 1000)], stock=5)
    coupon = CouponFactory(discount_kind=Coupon.DiscountKind.YEN, discount_value=1000, usage_limit=1)
    member = with_points(5000)
    weeks = book(room, member, 3, coupon=coupon, points=600)
    order = order_for_reservation(weeks[0])
    lines = list(order.lines.order_by("pk"))
    week_3 = line_shares(order, lines)[2]
    outcomes = run_together(
        [
            lambda: reservation_cancel(
                reservation=Reservation.objects.get(pk=weeks[0].pk), by=member, now=LATER
            ),
            lambda: reservation_cancel(
                reservation=Reservation.objects.get(pk=weeks[1].pk), by=member, now=LATER
            ),
        ],
        expected=(),
        success="cancelled",
    )
    assert outcomes == {"cancelled": 2}
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert [line.reservation_id for line in order.lines.all()] == [weeks[2].pk]
    assert (order.subtotal_yen, order.coupon_discount_yen, order.points_used, order.total_yen) == (
        2000,
        week_3.coupon_yen,
        week_3.points_yen,
        week_3.paid_yen,
    )
    assert balance_of(member) == 5000 - week_3.points_yen
    assert CouponRedemption.objects.get(order=order).discount_yen == week_3.coupon_yen
