"""Paying at the counter (defect 4 of issue 10): a counter booking makes a pending order, staff mark the money
received (who, when, how), the shop and the item decide whether it is offered, and the unpaid counter orders
of past bookings are listed for staff to settle."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import translation

from core.models import AuditEntry
from inventory import payment_methods
from inventory.exceptions import BookingError
from inventory.models import Reservation
from inventory.payment_methods import RefundChoice
from inventory.services import (
    booking_preview,
    reservation_cancel,
    reservation_complete,
    reservation_create,
    reservation_mark_no_show,
)
from inventory.tests.factories import ItemFactory, ReservationFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.counter import (
    CounterPaymentError,
    counter_no_show_settle,
    counter_order_create,
    counter_payment_receive,
    past_unpaid_counter_orders,
)
from payments.models import Order, OrderLine, Payment, PaymentSettings, Refund
from payments.reservations import order_for_reservation
from payments.services import LineDraft, order_cancel, order_create, refund_request

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")
AFTER = jst(MONDAY, "15:00")  # the Monday bookings below are over
CHANGELIST = reverse("admin:payments_order_changelist")


@pytest.fixture
def item():
    ReservationSettingsFactory()
    return ItemFactory(name="会議室A", units=[(60, 1000)], stock=5)


@pytest.fixture
def staff():
    return MemberFactory(is_staff=True, is_superuser=True)


def book(item, member=None, *, method="counter", start="10:00", end="12:00", now=NOW) -> Reservation:
    member = member or MemberFactory()
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, start),
        ends_at=jst(MONDAY, end),
        payment_method=method,
        now=now,
    )


# --- booking ------------------------------------------------------------------------------------------


def test_a_counter_booking_is_confirmed_and_makes_a_pending_counter_order_at_its_price(item):
    # given a member with a member discount (which applies to card checkouts only)
    member = MemberFactory(member_discount_pct=10)
    # when they book two hours paid at the counter
    reservation = book(item, member)
    # then the booking is confirmed at once and a pending counter order holds its price, undiscounted
    assert reservation.status == Reservation.Status.CONFIRMED
    order = order_for_reservation(reservation)
    assert (order.status, order.payment_method, order.member) == (
        Order.Status.PENDING,
        Order.Method.COUNTER,
        member,
    )
    assert (order.subtotal_yen, order.member_discount_yen, order.total_yen) == (2000, 0, 2000)
    line = order.lines.get()
    assert (line.kind, line.reservation, line.unit_price_yen) == (
        OrderLine.Kind.RESERVATION,
        reservation,
        2000,
    )
    # the booking is delivered already (confirmed at booking): receiving the money only records it
    assert line.fulfilled_at == NOW
    assert not Payment.objects.exists()


def test_the_counter_price_shown_before_booking_is_what_its_order_asks(item):
    # given a member whose discount applies to card checkouts only
    member = MemberFactory(member_discount_pct=10)
    quote = booking_preview(item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "12:00"), now=NOW)
    # when the confirmation page shows the counter's price, and the member then books at the counter
    shown = payment_methods.get("counter").price_lines(member=member, item=item, quote=quote)
    order = order_for_reservation(book(item, member))
    # then what was shown is what the order asks
    assert shown.total_yen == order.total_yen == 2000


@pytest.mark.parametrize("switched_off", ["shop", "item"])
def test_counter_is_not_offered_and_cannot_be_booked_when_the_shop_or_the_item_switches_it_off(
    item, switched_off
):
    # given paying at the counter switched off by the shop, or by this item only
    if switched_off == "shop":
        PaymentSettings.objects.update_or_create(pk=1, defaults={"counter_payment_enabled": False})
    else:
        item.counter_payment_allowed = False
        item.save()
    member = MemberFactory()
    counter = payment_methods.get("counter")
    # then the booking form does not offer it
    assert not counter.is_available(item=item, member=member, price_yen=2000)
    # and booking with it anyway is refused next to the payment method, creating nothing
    with translation.override("en"), pytest.raises(BookingError) as refused:
        book(item, member)
    assert refused.value.field == "payment_method"
    assert str(refused.value) == "This payment method cannot be used for this booking."
    assert not Reservation.objects.exists()
    assert not Order.objects.exists()


def test_counter_is_offered_when_both_switches_allow_it_and_the_booking_costs_money(item):
    counter = payment_methods.get("counter")
    assert counter.is_available(item=item, member=MemberFactory(), price_yen=2000)
    assert not counter.is_available(item=item, member=MemberFactory(), price_yen=0)


def test_a_staff_booking_follows_the_same_switches(item):
    # given an item that must be paid in advance
    item.counter_payment_allowed = False
    item.save()
    # when staff take a booking at the counter for a member (phone, walk-in)
    with pytest.raises(BookingError):
        reservation_create(
            member=MemberFactory(), by=MemberFactory(is_staff=True), item=item,
            starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"),
            payment_method="counter", channel=Reservation.Channel.ADMIN, now=NOW,
        )  # fmt: skip
    # then it is refused as it is for members: nothing booked
    assert not Reservation.objects.exists()


# --- receiving the money ------------------------------------------------------------------------------


def test_staff_mark_the_money_received_with_how_and_the_order_becomes_paid(item, staff):
    # given a counter booking, over and unpaid
    reservation = book(item)
    order = order_for_reservation(reservation)
    # when staff record the money taken on the card terminal
    payment = counter_payment_receive(order=order, how="card_terminal", by=staff, now=AFTER)
    # then a succeeded counter payment says who, when and how
    payment.refresh_from_db()
    assert (payment.provider, payment.state, payment.amount_yen) == (
        Payment.Provider.COUNTER,
        Payment.State.SUCCEEDED,
        2000,
    )
    assert (payment.counter_how, payment.received_by, payment.succeeded_at) == ("card_terminal", staff, AFTER)
    # and the order is paid, the booking still confirmed
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.paid_at) == (Order.Status.PAID, AFTER)
    assert reservation.status == Reservation.Status.CONFIRMED
    # and the audit trail names the staff member
    entry = AuditEntry.objects.get(action="order.counter_received")
    assert (entry.actor, entry.object_id, entry.created_at) == (staff, str(order.pk), AFTER)
    assert entry.payload == {"payment": payment.pk, "amount_yen": 2000, "how": "card_terminal"}


def test_money_for_a_completed_booking_only_records_the_money(item, staff):
    # given a counter booking staff already closed as completed
    reservation = book(item)
    reservation_complete(reservation=reservation, by=staff, now=AFTER)
    # when the money is recorded afterwards
    counter_payment_receive(order=order_for_reservation(reservation), how="cash", by=staff, now=AFTER)
    # then the order is paid and the booking stays completed
    reservation.refresh_from_db()
    assert order_for_reservation(reservation).status == Order.Status.PAID
    assert reservation.status == Reservation.Status.COMPLETED


def test_receiving_twice_is_refused_and_records_one_payment(item, staff):
    # given money already received
    order = order_for_reservation(book(item))
    counter_payment_receive(order=order, how="cash", by=staff, now=AFTER)
    # when staff (or a second click) record it again
    with pytest.raises(CounterPaymentError) as refused, translation.override("en"):
        counter_payment_receive(order=order, how="cash", by=staff, now=AFTER)
    # then it is refused, saying so, and one payment exists
    with translation.override("en"):
        assert str(refused.value) == f"The money for order #{order.pk} was already received at the counter."
    assert Payment.objects.filter(order=order).count() == 1
    assert AuditEntry.objects.filter(action="order.counter_received").count() == 1


def test_a_cancelled_or_free_order_or_an_unknown_how_is_refused(item, staff):
    cancelled = order_for_reservation(book(item))
    order_cancel(order=cancelled, now=NOW)
    free = order_create(by=None, system="tests",
        member=MemberFactory(),
        lines=[LineDraft(kind=OrderLine.Kind.RESERVATION, description="x", unit_price_yen=0,
                         reservation=ReservationFactory())],
        payment_method=Order.Method.FREE,
    )  # fmt: skip
    pending = order_for_reservation(book(item))
    with translation.override("en"):
        with pytest.raises(CounterPaymentError, match="Only a pending order"):
            counter_payment_receive(order=cancelled, how="cash", by=staff)
        with pytest.raises(CounterPaymentError, match="there is no money to receive"):
            counter_payment_receive(order=free, how="cash", by=staff)
        with pytest.raises(CounterPaymentError) as unknown:
            counter_payment_receive(order=pending, how="cheque", by=staff)
    assert unknown.value.field == "how"
    assert not Payment.objects.exists()
    pending.refresh_from_db()
    assert pending.status == Order.Status.PENDING


def test_a_card_order_paid_at_the_counter_closes_its_checkout_session_first(
    item, staff, stripe_api, settings
):
    # given a card booking with an open Checkout Session, whose member pays at the counter instead
    settings.PAYMENTS_CARD_CHECKOUT = True
    reservation = book(item, method="card")
    order = order_for_reservation(reservation)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_open_1")
    order.refresh_from_db()
    # when staff record the cash
    counter_payment_receive(order=order, how="cash", by=staff, now=NOW)
    # then the session was expired at Stripe, the money is a counter payment and the booking confirmed
    assert stripe_api.requests[-1]["path"] == "/v1/checkout/sessions/cs_open_1/expire"
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.payments.get().provider == Payment.Provider.COUNTER
    assert reservation.status == Reservation.Status.CONFIRMED


def test_a_card_order_the_member_already_paid_by_card_is_not_received_at_the_counter(
    item, staff, stripe_api, settings
):
    settings.PAYMENTS_CARD_CHECKOUT = True
    order = order_for_reservation(book(item, method="card"))
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_open_1")
    order.refresh_from_db()
    stripe_api.completed_sessions.add("cs_open_1")
    with pytest.raises(CounterPaymentError):
        counter_payment_receive(order=order, how="cash", by=staff, now=NOW)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert not Payment.objects.exists()


# --- cancel, no-show, what can be refunded --------------------------------------------------------------


def test_a_counter_booking_cancelled_before_the_day_cancels_its_pending_order(item):
    # given a counter booking
    member = MemberFactory()
    reservation = book(item, member)
    # when the member cancels it before the deadline
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    # then its unpaid order is cancelled too
    order = order_for_reservation(reservation)
    assert (order.status, order.cancelled_at) == (Order.Status.CANCELLED, NOW)
    assert past_unpaid_counter_orders(now=AFTER).count() == 0


def test_a_no_show_keeps_its_pending_order_for_staff_to_settle(item, staff):
    reservation = book(item)
    reservation_mark_no_show(reservation=reservation, by=staff, now=jst(MONDAY, "11:00"))
    assert order_for_reservation(reservation).status == Order.Status.PENDING


def test_what_can_be_refunded_is_the_money_received_less_what_was_refunded(item, staff):
    reservation = book(item)
    counter = payment_methods.get("counter")
    assert counter.refundable_yen(reservation=reservation) == 0  # nothing received yet
    order = order_for_reservation(reservation)
    counter_payment_receive(order=order, how="cash", by=staff, now=NOW)
    assert counter.refundable_yen(reservation=reservation) == 2000
    refund_request(order=order, amount_yen=500, reason="一部返金", by=staff, now=NOW)
    assert counter.refundable_yen(reservation=reservation) == 1500


def test_a_member_cancelling_a_booking_paid_in_advance_flags_it_for_staff_to_refund(item, staff):
    # given a booking the member paid in advance at the counter
    member = MemberFactory()
    reservation = book(item, member)
    order = order_for_reservation(reservation)
    counter_payment_receive(order=order, how="cash", by=staff, now=NOW)
    # when the member cancels it before the deadline (cash cannot go back by itself, whatever the policy)
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    # then the order is cancelled and flagged 要返金 for staff; nothing was refunded silently
    order.refresh_from_db()
    assert (order.status, order.refund_needed) == (Order.Status.CANCELLED, True)
    assert not Refund.objects.exists()


def test_staff_cancelling_a_booking_paid_at_the_counter_record_the_refund_they_hand_back(
    item, staff, django_capture_on_commit_callbacks
):
    # given a booking paid in advance at the counter
    reservation = book(item)
    order = order_for_reservation(reservation)
    counter_payment_receive(order=order, how="cash", by=staff, now=NOW)
    # when staff cancel it and answer "refund ¥1,500"
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(
            reservation=reservation, by=staff, as_staff=True, now=NOW,
            refund=RefundChoice(amount_yen=1500, reason="店舗都合"),
        )  # fmt: skip
    # then the refund is recorded against the counter payment, sent nowhere, and the order is cancelled
    refund = Refund.objects.get()
    assert (refund.amount_yen, refund.state, refund.stripe_refund_id) == (1500, Refund.State.SUCCEEDED, "")
    assert refund.payment.provider == Payment.Provider.COUNTER
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert payment_methods.get("counter").refundable_yen(reservation=reservation) == 0


# --- unpaid counter orders of past bookings ---------------------------------------------------------


def _past_and_future_orders(item, staff):
    """One order of each kind; returns (those the list must show, those it must not)."""
    completed = book(item, start="10:00", end="11:00")
    reservation_complete(reservation=completed, by=staff, now=AFTER)
    no_show = book(item, start="11:00", end="12:00")
    reservation_mark_no_show(reservation=no_show, by=staff, now=AFTER)
    confirmed_past = book(item, start="12:00", end="13:00")
    paid_past = book(item, start="13:00", end="14:00")
    counter_payment_receive(order=order_for_reservation(paid_past), how="cash", by=staff, now=AFTER)
    future = reservation_create(
        member=staff, by=staff, item=item, starts_at=jst(MONDAY + timedelta(days=7), "10:00"),
        ends_at=jst(MONDAY + timedelta(days=7), "11:00"), payment_method="counter", now=NOW,
    )  # fmt: skip
    cancelled = book(item, start="14:00", end="15:00")
    reservation_cancel(reservation=cancelled, by=staff, as_staff=True, now=NOW)
    # a card order of a past confirmed booking (paid later by card, or never): not the counter's business
    card_reservation = ReservationFactory(
        item=item, price_yen=1000, payment_method="card", starts_at=jst(MONDAY, "10:00")
    )
    card = order_create(by=None, system="tests",
        member=card_reservation.member,
        lines=[LineDraft(kind=OrderLine.Kind.RESERVATION, description="card", unit_price_yen=1000,
                         reservation=card_reservation)],
        payment_method=Order.Method.CARD,
    )  # fmt: skip
    listed = {order_for_reservation(r).pk for r in (completed, no_show, confirmed_past)}
    not_listed = {order_for_reservation(r).pk for r in (paid_past, future, cancelled)} | {card.pk}
    return listed, not_listed


def test_the_past_unpaid_list_has_exactly_the_pending_counter_orders_of_bookings_over(item, staff):
    listed, not_listed = _past_and_future_orders(item, staff)
    found = set(past_unpaid_counter_orders(now=AFTER).values_list("pk", flat=True))
    assert found == listed
    assert not found & not_listed


def test_a_confirmed_booking_still_running_is_not_past(item):
    order = order_for_reservation(book(item, start="10:00", end="12:00"))
    assert not past_unpaid_counter_orders(now=jst(MONDAY, "11:00")).filter(pk=order.pk).exists()
    assert past_unpaid_counter_orders(now=jst(MONDAY, "12:00")).filter(pk=order.pk).exists()


def test_settling_a_no_show_cancels_its_order_and_takes_nothing_back(item, staff):
    # given a no-show with its unpaid counter order
    reservation = book(item)
    reservation_mark_no_show(reservation=reservation, by=staff, now=AFTER)
    order = order_for_reservation(reservation)
    # when staff settle it as cancelled
    counter_no_show_settle(order=order, received=False, by=staff, now=AFTER)
    # then the order is cancelled, the booking stays a no-show, and the decision is on record
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.cancelled_at) == (Order.Status.CANCELLED, AFTER)
    assert reservation.status == Reservation.Status.NO_SHOW
    assert not Payment.objects.exists()
    entry = AuditEntry.objects.get(action="order.counter_no_show_settled")
    assert (entry.actor, entry.payload) == (staff, {"outcome": "cancelled", "how": ""})


def test_settling_a_no_show_as_received_records_the_money(item, staff):
    reservation = book(item)
    reservation_mark_no_show(reservation=reservation, by=staff, now=AFTER)
    order = counter_no_show_settle(
        order=order_for_reservation(reservation), received=True, how="cash", by=staff, now=AFTER
    )
    assert order.status == Order.Status.PAID
    assert order.payments.get().counter_how == "cash"
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.NO_SHOW


def test_only_a_no_show_order_is_settled_as_one(item, staff):
    order = order_for_reservation(book(item))
    with pytest.raises(CounterPaymentError):
        counter_no_show_settle(order=order, received=False, by=staff, now=AFTER)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


# --- demo data ----------------------------------------------------------------------------------------


def test_the_demo_gives_an_order_to_a_counter_booking_made_before_counter_orders_existed(item):
    from members.demo import MEMBER_EMAIL
    from payments import demo

    # given the demo member's counter booking without an order (made by an older version)
    reservation = ReservationFactory(
        member=MemberFactory(email=MEMBER_EMAIL), item=item, price_yen=1000, payment_method="counter"
    )
    # when the demo data is loaded, twice
    demo.load(stdout=_Null())
    demo.load(stdout=_Null())
    # then it has one pending counter order
    order = Order.objects.get(lines__reservation=reservation)
    assert (order.status, order.payment_method, order.total_yen) == (Order.Status.PENDING, "counter", 1000)


class _Null:
    def write(self, text):
        pass


# --- admin --------------------------------------------------------------------------------------------


def _english(client, user):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _queries(client, url, django_assert_max_num_queries, most: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with django_assert_max_num_queries(most), CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_order_list_filters_the_unpaid_counter_orders_of_past_bookings(
    client, admin_user, item, time_machine, django_assert_max_num_queries
):
    # given orders of every kind, and the clock after the bookings
    listed, not_listed = _past_and_future_orders(item, admin_user)
    time_machine.move_to(AFTER, tick=False)
    admin_client = _english(client, admin_user)
    url = f"{CHANGELIST}?counter_unpaid=past"
    # when staff pick the filter
    page = admin_client.get(CHANGELIST)
    assert "Unpaid at the counter (booking past)" in page.content.decode()
    response = admin_client.get(url)
    # then exactly those orders are listed
    shown = {order.pk for order in response.context["cl"].result_list}
    assert shown == listed
    assert not shown & not_listed
    # and the page's queries do not grow with the rows
    few = _queries(admin_client, url, django_assert_max_num_queries, 20)
    more_reservations = [
        ReservationFactory(item=item, price_yen=1000, starts_at=jst(MONDAY, "08:00"), completed=True)
        for _n in range(5)
    ]
    for reservation in more_reservations:
        counter_order_create(reservation=reservation, by=None, system="tests", now=NOW)
    assert len(admin_client.get(url).context["cl"].result_list) == len(listed) + 5
    assert _queries(admin_client, url, django_assert_max_num_queries, 20) == few


def test_mark_received_asks_how_then_records_the_payment_with_the_staff_member(
    admin_client, admin_user, item
):
    order = order_for_reservation(book(item))
    url = reverse("admin:payments_order_operate", args=[order.pk, "mark_paid"])
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    # a link asks first, with the choice of how
    asked = admin_client.get(url)
    body = asked.content.decode()
    assert asked.status_code == 200
    assert 'name="how"' in body
    assert "Card terminal" in body
    assert not Payment.objects.exists()
    # the answer records it
    response = admin_client.post(url, {"confirm": "yes", "how": "other"})
    assert response.status_code == 302
    payment = Payment.objects.get(order=order)
    assert (payment.counter_how, payment.received_by) == ("other", admin_user)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    # and the order page shows the payment row: how, and who received it
    page = admin_client.get(reverse("admin:payments_order_change", args=[order.pk])).content.decode()
    assert admin_user.email in page
    assert "field-counter_how" in page


def test_mark_received_from_the_list_without_how_asks_again_and_changes_nothing(admin_client, item):
    order = order_for_reservation(book(item))
    data = {"action": "mark_paid_selected", ACTION_CHECKBOX_NAME: [str(order.pk)], "confirm": "yes"}
    response = admin_client.post(CHANGELIST, data)
    assert response.status_code == 200
    assert response.context["form"].errors["how"]
    response = admin_client.post(CHANGELIST, {**data, "how": "cash"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_no_show_order_page_offers_settle_and_cancels_by_default(admin_client, admin_user, item):
    # given a no-show's unpaid counter order
    reservation = book(item)
    reservation_mark_no_show(reservation=reservation, by=admin_user, now=AFTER)
    order = order_for_reservation(reservation)
    # its page offers settling it (and not a plain "received", which settling includes)
    page = admin_client.get(reverse("admin:payments_order_change", args=[order.pk]))
    keys = [url.rstrip("/").rsplit("/", 1)[-1] for _label, url in page.context["operations"]]
    assert "settle_no_show" in keys
    assert "mark_paid" not in keys
    url = reverse("admin:payments_order_operate", args=[order.pk, "settle_no_show"])
    asked = admin_client.get(url)
    assert asked.context["form"]["outcome"].initial == "cancel"
    # answering without changing the choice cancels it
    admin_client.post(url, {"confirm": "yes"})
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def test_settling_a_no_show_as_received_needs_how(admin_client, admin_user, item):
    reservation = book(item)
    reservation_mark_no_show(reservation=reservation, by=admin_user, now=AFTER)
    order = order_for_reservation(reservation)
    url = reverse("admin:payments_order_operate", args=[order.pk, "settle_no_show"])
    refused = admin_client.post(url, {"confirm": "yes", "outcome": "received"})
    assert refused.status_code == 200
    assert refused.context["form"].errors["how"]
    admin_client.post(url, {"confirm": "yes", "outcome": "received", "how": "cash"})
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_the_payment_settings_page_goes_to_the_one_row_and_records_changes(admin_client, admin_user):
    # the list goes straight to the one row; there is no adding or deleting
    listed = admin_client.get(reverse("admin:payments_paymentsettings_changelist"))
    row = PaymentSettings.current()
    change = reverse("admin:payments_paymentsettings_change", args=[row.pk])
    assert listed["Location"] == change
    assert admin_client.get(reverse("admin:payments_paymentsettings_add")).status_code == 403
    assert admin_client.post(
        reverse("admin:payments_paymentsettings_delete", args=[row.pk]), {"post": "yes"}
    ).status_code == 403  # fmt: skip
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = admin_client.get(change).content.decode()
    assert "Offer 'Pay at the counter' when booking" in page
    # when staff switch counter payment off
    response = admin_client.post(
        change, {"refund_policy": "staff", "counter_payment_enabled": "", "show_member_discount": "on"}
    )
    # then it is saved, with an audit entry of what changed
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.refund_policy, row.counter_payment_enabled, row.show_member_discount) == (
        "staff",
        False,
        True,
    )
    entry = AuditEntry.objects.get(action="payments.settings_changed")
    assert entry.actor == admin_user
    assert entry.payload == {"refund_policy": "staff", "counter_payment_enabled": False}
    assert PaymentSettings.objects.count() == 1


def test_the_item_form_has_the_counter_switch(admin_client, item):
    page = admin_client.get(reverse("admin:inventory_item_change", args=[item.pk])).content.decode()
    assert 'name="counter_payment_allowed"' in page


def test_staff_without_the_permission_cannot_change_payment_settings(client):
    from django.contrib.auth.models import Permission

    staff = MemberFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_paymentsettings"))
    client.force_login(staff)
    row = PaymentSettings.current()
    change = reverse("admin:payments_paymentsettings_change", args=[row.pk])
    assert client.get(change).status_code == 200
    client.post(change, {"refund_policy": "staff", "counter_payment_enabled": "", "show_member_discount": ""})
    row.refresh_from_db()
    assert (row.refund_policy, row.counter_payment_enabled) == ("automatic", True)
