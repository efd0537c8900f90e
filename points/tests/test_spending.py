"""Spending points at checkout (SPEC §8 "Using", issue 14 "Spending", seed 004 ポイント利用区分): the price
step honours the usage mode on the lines' amounts after the earlier discounts; more than the balance or the
point-payable amount is refused with the limit and its number, and nothing changes; the points are spent
with the order and come back (per record: a new lot valid N months after the cancellation; whole balance:
the date put back) when it is cancelled, paid or not; an order they bring to 0 yen is confirmed without a
card.

The clock of the bookings: Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import translation

from inventory.exceptions import BookingError
from inventory.models import Reservation
from inventory.services import (
    release_unpaid_reservations,
    reservation_approve,
    reservation_cancel,
    reservation_create,
)
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments import registry
from payments.models import Order, OrderLine, Payment, Product
from payments.pricing import price_draft
from payments.reservations import CardPayment, order_for_reservation
from payments.services import LineDraft, order_cancel, order_create, order_mark_paid, order_refund
from points import selectors
from points.exceptions import NotEnoughPointsError, PointsError
from points.models import PointAccount, PointEntry, PointLot, PointSettings
from points.pricing import points_payable_yen
from points.services import points_grant
from points.spending import PointsSpending

Kind = PointEntry.Kind
Mode = PointSettings.UsageMode
pytestmark = pytest.mark.django_db

NOW = jst(date(2027, 6, 1), "09:00")
CANCEL = jst(date(2027, 6, 3), "10:00")
MONDAY = date(2027, 6, 7)


@pytest.fixture(autouse=True)
def _english():
    # the messages are asserted in their English source words
    with translation.override("en"):
        yield


def point_settings(*, mode: int = Mode.ALL, method=PointSettings.ExpiryMethod.PER_RECORD, months=12):
    row = PointSettings.current()
    row.usage_mode = mode
    row.expiry_method = method
    row.period_months = months
    row.base_rate_percent = 0  # no purchase points: these tests count the points spent only
    row.save()
    return row


def member_with(points: int, *, on: date = date(2027, 1, 10), **fields):
    member = MemberFactory(**fields)
    if points:
        points_grant(
            member=member, amount=points, kind=Kind.PURCHASE, by=None, system="test", now=jst(on, "09:00")
        )
    return member


def product(sku: str, price: int, *, payable: bool = True, fee: bool = False) -> Product:
    return Product.objects.create(sku=sku, name=sku, price_yen=price, points_payable=payable, is_fee=fee)


def product_lines(*products: Product) -> list[LineDraft]:
    return [
        LineDraft(kind=OrderLine.Kind.PRODUCT, description=p.name, unit_price_yen=p.price_yen, product=p)
        for p in products
    ]


def buy(member, products, points, *, method=Order.Method.CARD, now=NOW) -> Order:
    return order_create(
        member=member,
        lines=product_lines(*products),
        payment_method=method,
        by=member,
        options={"points": points},
        now=now,
    )


def nothing_spent(member, balance: int) -> None:
    assert selectors.balance_of(member) == balance
    assert not PointEntry.objects.filter(member=member, kind=Kind.USE).exists()
    assert not Order.objects.filter(member=member).exists()


# --- what points may pay for: the usage modes ---------------------------------------------------------------


@pytest.fixture
def cart():
    """A point-payable lesson pack (1,000), a non-payable rental (500), a point-payable fee (300)."""
    return (
        product("PACK", 1000),
        product("RENTAL", 500, payable=False),
        product("FEE", 300, fee=True),
    )


@pytest.mark.parametrize(
    ("mode", "payable"),
    [
        (Mode.ALL, 1800),  # every line
        (Mode.NONE_WHEN_MIXED, 0),  # the cart mixes payable and non-payable products: none
        (Mode.PAYABLE_ONLY_NO_FEES, 1000),  # the pack only: the fee is excluded
        (Mode.PAYABLE_ONLY_WITH_FEES, 1300),  # the pack and the fee
    ],
)
def test_each_usage_mode_decides_what_points_may_pay_for_in_a_mixed_cart(cart, mode, payable):
    # given
    point_settings(mode=mode)
    member = member_with(5000)
    draft = price_draft(member=member, lines=product_lines(*cart), payment_method=Order.Method.CARD)
    # then the point-payable amount follows the mode
    assert points_payable_yen(draft) == payable
    # and an order may use exactly that many points, not one more
    if payable:
        order = buy(member, cart, payable)
        assert (order.points_used, order.total_yen) == (payable, 1800 - payable)
        assert selectors.balance_of(member) == 5000 - payable
    with pytest.raises(PointsError) as refused:
        buy(member, cart, payable + 1)
    assert refused.value.field == "points"
    expected = (
        f"At most {payable:,} points can pay for this order."
        if payable
        else "Points cannot pay for this order."
    )
    assert str(refused.value.message) == expected


def test_mode_2_lets_points_pay_for_a_cart_of_point_payable_products_only(cart):
    # given a cart without the non-payable rental, fee included
    point_settings(mode=Mode.NONE_WHEN_MIXED)
    member = member_with(5000)
    pack, _rental, fee = cart
    # when the member pays it all with points, then it is all paid with points
    order = buy(member, [pack, fee], 1300)
    assert (order.points_used, order.total_yen) == (1300, 0)


def test_the_payable_amount_is_what_the_lines_cost_after_the_earlier_discounts_shared_in_proportion(cart):
    # given a 10 % member discount (card) on the pack (1,000) and the rental (500): 150 yen off in all,
    # 100 of it the pack's
    point_settings(mode=Mode.PAYABLE_ONLY_NO_FEES)
    member = member_with(5000, member_discount_pct=10)
    pack, rental, _fee = cart
    # when
    draft = price_draft(member=member, lines=product_lines(pack, rental), payment_method=Order.Method.CARD)
    # then points may pay for what the pack costs after its share of the discount
    assert draft.member_discount_yen == 150
    assert points_payable_yen(draft) == 900
    order = buy(member, [pack, rental], 900)
    assert (order.member_discount_yen, order.points_used, order.total_yen) == (150, 900, 450)
    with pytest.raises(PointsError, match="At most 900 points"):
        buy(member, [pack, rental], 901)


@pytest.mark.parametrize("mode", [Mode.PAYABLE_ONLY_NO_FEES, Mode.PAYABLE_ONLY_WITH_FEES])
def test_a_booking_line_counts_as_point_payable_and_not_a_fee(mode):
    # given
    point_settings(mode=mode)
    ReservationSettingsFactory()
    member = member_with(5000)
    item = ItemFactory(units=[(60, 1000)], stock=5)
    # when the member books two hours (2,000 yen) at the counter and pays 1,500 of it with points
    reservation = book(item, member, method="counter", points=1500)
    # then
    order = order_for_reservation(reservation)
    assert (order.points_used, order.total_yen) == (1500, 500)


# --- refusals -----------------------------------------------------------------------------------------------


def test_more_than_the_balance_is_refused_with_the_balance_and_nothing_changes(cart):
    # given 120 points
    point_settings()
    member = member_with(120)
    # when the member tries to use 200
    with pytest.raises(NotEnoughPointsError) as refused:
        buy(member, cart, 200)
    # then the message says the balance and the points asked for, next to the points field
    assert str(refused.value.message) == "You have 120 points; you cannot use 200."
    assert refused.value.field == "points"
    nothing_spent(member, 120)


def test_the_balance_is_checked_before_the_payable_amount():
    # given 1,200 points and an order points may pay 800 of
    point_settings(mode=Mode.PAYABLE_ONLY_NO_FEES)
    member = member_with(1200)
    pack, fee = product("PACK", 800), product("FEE", 500, fee=True)
    # then 2,000 breaks the balance first; 900 breaks the payable amount
    with pytest.raises(PointsError, match="You have 1,200 points; you cannot use 2,000"):
        buy(member, [pack, fee], 2000)
    with pytest.raises(PointsError, match="At most 800 points can pay for this order"):
        buy(member, [pack, fee], 900)
    nothing_spent(member, 1200)


@pytest.mark.parametrize(
    ("entered", "message"),
    [
        (-5, "Enter 0 or more points."),
        ("-5", "Enter 0 or more points."),
        ("abc", "Enter the points to use as a whole number."),
        ("1.5", "Enter the points to use as a whole number."),
        (1.5, "Enter the points to use as a whole number."),
        ("１００", "Enter the points to use as a whole number."),  # full-width digits: not parsed silently
        (True, "Enter the points to use as a whole number."),
    ],
)
def test_points_that_are_not_a_whole_number_of_0_or_more_are_a_clear_error(cart, entered, message):
    point_settings()
    member = member_with(500)
    with pytest.raises(PointsError) as refused:
        buy(member, cart, entered)
    assert (str(refused.value.message), refused.value.field) == (message, "points")
    nothing_spent(member, 500)


@pytest.mark.parametrize("entered", [None, "", 0, "0", " 0 "])
def test_no_points_entered_uses_none(cart, entered):
    point_settings()
    member = member_with(500)
    order = buy(member, cart, entered)
    assert order.points_used == 0
    assert selectors.balance_of(member) == 500


def test_a_free_order_takes_no_points(cart):
    # a ticket or plan booking makes no card or counter order; an order of method "free" takes no points
    point_settings()
    member = member_with(500)
    with pytest.raises(PointsError, match="only when paying by card or at the counter"):
        buy(member, cart, 100, method=Order.Method.FREE)
    nothing_spent(member, 500)


def test_a_ticket_booking_with_points_is_refused_and_nothing_is_booked():
    # given a member with points and a 0-yen item (booked with method "free", which makes no order)
    point_settings()
    ReservationSettingsFactory()
    member = member_with(500)
    item = ItemFactory(stock=5)
    # when they book it with points
    with pytest.raises(BookingError) as refused:
        book(item, member, method="free", points=100)
    # then
    assert refused.value.field == "points"
    assert not Reservation.objects.filter(member=member).exists()
    assert selectors.balance_of(member) == 500


# --- spent with the order, given back when it is undone -------------------------------------------------


def test_the_points_are_spent_with_the_order_linked_to_it(cart):
    point_settings()
    member = member_with(1000)
    order = buy(member, cart, 300)
    [use] = PointEntry.objects.filter(member=member, kind=Kind.USE)
    assert (use.delta, use.order_id, use.created_by_id) == (-300, order.pk, member.pk)
    assert selectors.balance_of(member) == 700
    assert selectors.ledger_report() == []


def test_seed_004_a_cancelled_use_comes_back_as_a_lot_valid_n_months_after_the_cancellation():
    # given (seed 004) 200 points granted on 2018-06-01, valid through 2019-06-01, all used on 2019-06-01
    point_settings(months=12)
    member = member_with(200, on=date(2018, 6, 1))
    order = buy(member, [product("PACK", 1000)], 200, now=jst(date(2019, 6, 1), "10:00"))
    cancelled_at = jst(date(2019, 6, 3), "10:00")
    # when the cancellation is previewed, then confirmed on 2019-06-03
    preview = registry.undo_effects(order=order, now=cancelled_at)
    order_cancel(order=order, by=None, system="test", now=cancelled_at)
    # then the preview said what happened: the 200 points back, valid through 2020-06-03
    assert [effect.text for effect in preview] == ["200 points come back, valid through 2020-06-03."]
    [reversal] = PointEntry.objects.filter(member=member, kind=Kind.USE_REVERSAL)
    assert (reversal.delta, reversal.expires_on, reversal.order_id) == (200, date(2020, 6, 3), order.pk)
    assert PointLot.objects.get(entry=reversal).expires_on == date(2020, 6, 3)
    assert selectors.balance_of(member) == 200
    # and given back once: the order undone again gives nothing more, and previews nothing
    PointsSpending().undone(order=order, by=None, system="test", now=cancelled_at, terms=registry.UndoTerms())
    assert selectors.balance_of(member) == 200
    assert registry.undo_effects(order=order, now=cancelled_at) == []


# --- bookings ---------------------------------------------------------------------------------------------


def book(item, member, *, method: str, points=None, start="10:00", end="12:00", now=NOW) -> Reservation:
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, start),
        ends_at=jst(MONDAY, end),
        payment_method=method,
        extras={"points": points},
        now=now,
    )


@pytest.fixture
def item():
    ReservationSettingsFactory()
    return ItemFactory(name="会議室A", units=[(60, 1000)], stock=5)  # two hours: 2,000 yen


def test_a_card_booking_points_pay_in_full_is_confirmed_without_a_checkout(item):
    # given
    point_settings()
    member = member_with(3000)
    # when points pay the whole 2,000 yen of a card booking
    reservation = book(item, member, method="card", points=2000)
    # then the booking is confirmed at once, its order paid by card with no payment taken and no checkout
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.hold_until is None
    order = order_for_reservation(reservation)
    assert (order.status, order.payment_method, order.total_yen, order.points_used) == (
        Order.Status.PAID,
        Order.Method.CARD,
        0,
        2000,
    )
    assert not Payment.objects.filter(order=order).exists()
    assert CardPayment().next_url(reservation=reservation) is None  # the member lands on the reservation
    assert selectors.balance_of(member) == 1000


def test_a_card_booking_points_pay_in_part_waits_for_the_card_payment_of_the_rest(item):
    point_settings()
    member = member_with(3000)
    reservation = book(item, member, method="card", points=500)
    order = order_for_reservation(reservation)
    assert reservation.status == Reservation.Status.TENTATIVE
    assert (order.status, order.total_yen) == (Order.Status.PENDING, 1500)
    assert CardPayment().next_url(reservation=reservation) == reverse("payments:checkout", args=[order.pk])


def test_a_card_booking_with_more_points_than_the_balance_books_nothing(item):
    point_settings()
    member = member_with(300)
    with pytest.raises(NotEnoughPointsError, match="You have 300 points; you cannot use 500"):
        book(item, member, method="card", points=500)
    assert not Reservation.objects.filter(member=member).exists()
    nothing_spent(member, 300)


@pytest.mark.parametrize("how", ["member_cancels", "staff_cancels_the_order", "staff_cancels_the_booking"])
def test_a_counter_booking_cancelled_unpaid_gives_the_points_back_valid_n_months_after(item, how):
    # given (per record, 12 months) 3,000 points granted on 2027-01-10 and a counter booking on 06-01 that
    # uses 800 of them
    point_settings(months=12)
    member = member_with(3000)
    staff = MemberFactory(is_staff=True)
    reservation = book(item, member, method="counter", points=800)
    order = order_for_reservation(reservation)
    assert (order.status, order.total_yen, selectors.balance_of(member)) == (Order.Status.PENDING, 1200, 2200)
    # when it is cancelled unpaid on 06-03
    if how == "member_cancels":
        reservation_cancel(reservation=reservation, by=member, now=CANCEL)
    elif how == "staff_cancels_the_order":
        order_cancel(order=order, by=staff, now=CANCEL)
    else:
        reservation_cancel(reservation=reservation, by=staff, as_staff=True, now=CANCEL)
    # then the booking and its order are cancelled and the 800 points are back, valid through 2028-06-03
    reservation.refresh_from_db()
    order.refresh_from_db()
    assert (reservation.status, order.status) == (Reservation.Status.CANCELLED, Order.Status.CANCELLED)
    assert not order.refund_needed
    [reversal] = PointEntry.objects.filter(member=member, kind=Kind.USE_REVERSAL)
    assert (reversal.delta, reversal.expires_on) == (800, date(2028, 6, 3))
    assert selectors.balance_of(member) == 3000
    assert selectors.ledger_report() == []


def test_whole_balance_a_counter_booking_cancelled_unpaid_puts_the_date_back(item):
    # given (whole balance, 12 months) 3,000 points granted on 2027-01-10: valid through 2028-01-10
    point_settings(method=PointSettings.ExpiryMethod.WHOLE_BALANCE, months=12)
    member = member_with(3000)
    # when a counter booking on 06-01 uses 800 (the date moves to 2028-06-01)
    reservation = book(item, member, method="counter", points=800)
    assert PointAccount.objects.get(member=member).expires_on == date(2028, 6, 1)
    order = order_for_reservation(reservation)
    preview = registry.undo_effects(order=order, now=CANCEL)
    # and it is cancelled unpaid on 06-03
    reservation_cancel(reservation=reservation, by=member, now=CANCEL)
    # then the points are back and the balance's date is put back where it was, as the preview said
    account = PointAccount.objects.get(member=member)
    assert (account.balance, account.expires_on) == (3000, date(2028, 1, 10))
    assert [effect.text for effect in preview] == ["800 points come back, valid through 2028-01-10."]


def test_a_counter_booking_points_pay_in_full_has_nothing_to_receive_and_gives_them_back_on_cancel(item):
    point_settings()
    member = member_with(3000)
    reservation = book(item, member, method="counter", points=2000)
    order = order_for_reservation(reservation)
    assert (reservation.status, order.status, order.total_yen) == (
        Reservation.Status.CONFIRMED,
        Order.Status.PAID,
        0,
    )
    reservation_cancel(reservation=reservation, by=member, now=CANCEL)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert not order.refund_needed  # no money to decide about
    assert selectors.balance_of(member) == 3000


def test_a_card_booking_cancelled_after_payment_gives_the_points_back(item):
    # given a card booking paying 500 of its 2,000 yen with points, then paid by card
    point_settings(months=12)
    member = member_with(3000)
    reservation = book(item, member, method="card", points=500)
    order = order_mark_paid(order=order_for_reservation(reservation), now=NOW)
    # when the member cancels it before the deadline
    reservation_cancel(reservation=reservation, by=member, now=CANCEL)
    # then the order is cancelled (its 1,500 yen refunded by the shop's policy) and the points are back
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    [reversal] = PointEntry.objects.filter(member=member, kind=Kind.USE_REVERSAL)
    assert (reversal.delta, reversal.expires_on, reversal.created_by_id) == (500, date(2028, 6, 3), member.pk)
    assert selectors.balance_of(member) == 3000


def test_an_unpaid_card_booking_released_gives_the_points_back(item):
    point_settings()
    member = member_with(3000)
    reservation = book(item, member, method="card", points=500)
    assert selectors.balance_of(member) == 2500
    # when its hold runs out unpaid
    [released] = release_unpaid_reservations(now=jst(date(2027, 6, 1), "12:00"))
    # then
    assert released.pk == reservation.pk
    assert order_for_reservation(reservation).status == Order.Status.CANCELLED
    assert selectors.balance_of(member) == 3000
    assert PointEntry.objects.get(kind=Kind.USE_REVERSAL).system == "release_unpaid_reservations"


def test_a_card_booking_awaiting_approval_that_points_pay_in_full_is_paid_from_its_payment_page(client, item):
    # given an item under approval and a card booking points pay in full: it waits, its order pending
    point_settings()
    ReservationSettingsFactory(item=item, approval_required=True)
    member = member_with(3000)
    reservation = book(item, member, method="card", points=2000)
    order = order_for_reservation(reservation)
    assert (reservation.status, order.status) == (Reservation.Status.AWAITING, Order.Status.PENDING)
    # when the shop approves it and the member opens the payment page
    reservation_approve(reservation=reservation, by=MemberFactory(is_staff=True), now=NOW)
    client.force_login(member)
    response = client.get(reverse("payments:checkout", args=[order.pk]))
    # then nothing is charged: the order is paid, the booking confirmed, no payment row
    assert response.status_code == 302
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, reservation.status) == (Order.Status.PAID, Reservation.Status.CONFIRMED)
    assert not Payment.objects.filter(order=order).exists()


def test_a_full_refund_gives_the_points_back_and_a_partial_one_does_not(cart):
    # given two paid card orders of the pack (1,000 yen), each paying 300 with points: 700 yen by card
    point_settings(months=12)
    member = member_with(1000)
    staff = MemberFactory(is_staff=True)
    pack = cart[0]
    full, partial = (order_mark_paid(order=buy(member, [pack], 300), now=NOW) for _ in range(2))
    assert selectors.balance_of(member) == 400
    # when staff refund one in full and the other in part
    order_refund(order=full, amount_yen=700, reason="full", by=staff, now=CANCEL)
    order_refund(order=partial, amount_yen=100, reason="part", by=staff, now=CANCEL)
    # then the full refund gave its 300 points back (valid through 2028-06-03); the partial one left them
    full.refresh_from_db()
    partial.refresh_from_db()
    assert (full.status, partial.status) == (Order.Status.REFUNDED, Order.Status.PARTIALLY_CANCELLED)
    [reversal] = PointEntry.objects.filter(member=member, kind=Kind.USE_REVERSAL)
    assert (reversal.order_id, reversal.delta, reversal.expires_on) == (full.pk, 300, date(2028, 6, 3))
    assert selectors.balance_of(member) == 700
