from datetime import date, timedelta

import pytest

from inventory.exceptions import SlotFullError
from inventory.models import Reservation, Slot
from inventory.services import release_unpaid_reservations, reservation_cancel, reservation_create
from inventory.tests.factories import ItemFactory, RepeatingEventFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.exceptions import OrderError
from payments.models import Order, OrderLine, Product
from payments.pricing import member_discount_yen
from payments.reservations import order_for_reservation
from payments.services import LineDraft, order_cancel, order_create, order_mark_paid

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture(autouse=True)
def card_checkout_on(settings):
    settings.PAYMENTS_CARD_CHECKOUT = True


@pytest.fixture
def lesson():
    ReservationSettingsFactory(tentative_hold_minutes=20)
    item = ItemFactory(fixed=True, stock=1, units=[(60, 3300)])
    RepeatingEventFactory(item=item, weekday=0)
    return item


def book_by_card(item, member):
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "11:00"),
        payment_method="card",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("amount", "pct", "expected"), [(1000, 10, 100), (999, 10, 99), (3333, 15, 499), (500, 0, 0)]
)
def test_member_discount_rounds_down(amount, pct, expected):
    assert member_discount_yen(amount_yen=amount, pct=pct) == expected


def test_card_booking_is_tentative_with_a_pending_order_then_confirmed_when_paid(lesson):
    # given a member with a 10 % member discount booking a 3,300-yen lesson by card
    member = MemberFactory(member_discount_pct=10)
    reservation = book_by_card(lesson, member)
    order = order_for_reservation(reservation)
    # then the place is held, the order waits for payment, and the member discount applies (card only)
    assert reservation.status == Reservation.Status.TENTATIVE
    assert reservation.hold_until == NOW + timedelta(minutes=20)
    assert order.status == Order.Status.PENDING
    assert (order.subtotal_yen, order.member_discount_yen, order.total_yen) == (3300, 330, 2970)
    with pytest.raises(SlotFullError):
        book_by_card(lesson, MemberFactory())
    # when the payment arrives (twice: a webhook may be delivered again)
    order_mark_paid(order=order, now=NOW + timedelta(minutes=5))
    order_mark_paid(order=order, now=NOW + timedelta(minutes=6))
    # then the booking is confirmed once and no longer released
    reservation.refresh_from_db()
    order.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED
    assert order.status == Order.Status.PAID
    assert order.paid_at == NOW + timedelta(minutes=5)
    assert release_unpaid_reservations(now=NOW + timedelta(hours=1)) == []


def test_an_unpaid_card_booking_is_released_and_its_order_cancelled(lesson):
    member = MemberFactory()
    reservation = book_by_card(lesson, member)
    released = release_unpaid_reservations(now=NOW + timedelta(minutes=21))
    assert [r.pk for r in released] == [reservation.pk]
    order = order_for_reservation(reservation)
    assert order.status == Order.Status.CANCELLED
    assert Slot.objects.get(item=lesson).booked == 0
    with pytest.raises(OrderError):
        order_mark_paid(order=order, now=NOW + timedelta(minutes=22))


def test_member_cancelling_a_card_booking_cancels_the_pending_order_once(lesson):
    member = MemberFactory()
    reservation = book_by_card(lesson, member)
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    assert order_for_reservation(reservation).status == Order.Status.CANCELLED
    assert Slot.objects.get(item=lesson).booked == 0


def test_cancelling_a_paid_order_cancels_the_booking(lesson):
    member = MemberFactory()
    reservation = book_by_card(lesson, member)
    order = order_mark_paid(order=order_for_reservation(reservation), now=NOW)
    order_cancel(order=order, by=MemberFactory(is_staff=True), now=NOW)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert Slot.objects.get(item=lesson).booked == 0


def test_the_total_must_equal_the_subtotal_less_every_discount_in_the_database():
    from django.db import IntegrityError

    member = MemberFactory()
    with pytest.raises(IntegrityError):
        Order.objects.create(member=member, payment_method="card", subtotal_yen=1000, total_yen=900)


def test_an_order_without_lines_is_refused():
    with pytest.raises(OrderError):
        order_create(by=None, system="tests", member=MemberFactory(), lines=[], payment_method="card")


def test_member_discount_does_not_apply_at_the_counter():
    product = Product.objects.create(sku="P-1", name="回数券", price_yen=10000)
    order = order_create(
        by=None,
        system="tests",
        member=MemberFactory(member_discount_pct=10),
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=product.name, unit_price_yen=10000, product=product
            )
        ],
        payment_method=Order.Method.COUNTER,
    )
    assert (order.member_discount_yen, order.total_yen) == (0, 10000)


def test_a_product_cannot_have_both_points_rules():
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError

    product = Product(sku="P-2", name="x", price_yen=100, points_per_unit=5, points_rate_pct=3)
    with pytest.raises(ValidationError):
        product.full_clean()
    with pytest.raises(IntegrityError):
        product.save()


def test_card_is_not_offered_until_the_checkout_is_switched_on(settings, lesson):
    from inventory.exceptions import BookingError

    settings.PAYMENTS_CARD_CHECKOUT = False
    with pytest.raises(BookingError):
        book_by_card(lesson, MemberFactory())
    assert not Order.objects.exists()
