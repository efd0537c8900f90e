"""電話・来店予約 for N weeks (issue 15 for staff): the staff booking page offers the member confirm page's
"Repeat weekly for … weeks" — every week checked, priced and booked together (all or nothing, full weeks
named) through inventory.repeating.reservation_create_repeating with channel "admin" and the staff member
as `by` — only with the methods that can pay a repeat booking, the override reason lifting the booking
window and deadline of every week; and the member's coupon code and points (inventory.booking_extras)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse

from core.models import AuditEntry
from inventory.models import Reservation, Slot
from inventory.services import reservation_create
from inventory.tests.factories import (
    ItemFactory,
    RepeatingEventFactory,
    ReservationSettingsFactory,
    SlotFactory,
    jst,
    next_week,
)
from members.tests.factories import MemberFactory
from payments.models import Order
from payments.reservations import order_for_reservation
from points.models import PointEntry
from points.selectors import balance_of
from points.services import points_grant
from promotions.models import Coupon, CouponRedemption
from promotions.tests.factories import CouponFactory
from tickets.tests.factories import TicketTypeFactory, issue_ticket

pytestmark = pytest.mark.django_db

TAKE = "admin:inventory_reservation_take"
DAY = next_week()
WEEKS = [DAY + timedelta(weeks=week) for week in range(3)]


@pytest.fixture(autouse=True)
def general_settings(db):
    """Every day 10:00–18:00, 30-minute steps, 60 days ahead, no booking deadline."""
    return ReservationSettingsFactory()


@pytest.fixture
def staff(admin_client):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return admin_client


@pytest.fixture
def customer():
    return MemberFactory(name="山田 花子", email="hanako@example.com")


@pytest.fixture
def rental():
    """A free-type item priced per hour (1,000 yen), stock 2: 10:00–12:00 is 2,000 yen a week."""
    return ItemFactory(name="テント", stock=2, units=[(60, 1000)])


@pytest.fixture
def lesson():
    """A fixed-type class at 1,000 yen per hour, every DAY's weekday 10:00–11:00, for 1."""
    item = ItemFactory(name="陶芸教室", fixed=True, stock=1, units=[(60, 1000)])
    RepeatingEventFactory(item=item, weekday=DAY.weekday(), starts_at=time(10), ends_at=time(11))
    return item


def free_time(weeks, start="10:00", end="12:00") -> dict:
    return {"date": DAY.isoformat(), "start_time": start, "end_time": end, "quantity": 1, "weeks": weeks}


def slot_time(weeks) -> dict:
    return {"date": DAY.isoformat(), "slot": "10:00-11:00", "quantity": 1, "weeks": weeks}


def booking(member, item, chosen: dict, **more) -> dict:
    return {"member": member.pk, "item": item.pk, **chosen, **more}


def take(client, member, item, chosen: dict, payment_method: str, **more):
    """Every step as staff click through it; returns the final response (a redirect when booked)."""
    payment = client.get(reverse(TAKE), booking(member, item, chosen, step="payment"))
    assert payment.context["step"] == "payment", payment.context["time_form"].errors
    data = booking(member, item, chosen, payment_method=payment_method, step="confirm", **more)
    confirm = client.post(reverse(TAKE), data)
    assert confirm.context["step"] == "confirm", (
        confirm.context["payment_form"].errors,
        confirm.context["extras_form"].errors,
    )
    hidden = dict(confirm.context["payment_carry"])  # what the confirm page posts, as it posts it
    return client.post(reverse(TAKE), {**dict(confirm.context["carry"]), **hidden, "step": "book"})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- booking N weeks ------------------------------------------------------------------------------------


def test_staff_book_3_weeks_at_the_counter_as_one_order(staff, customer, rental, admin_user):
    # when staff book 10:00–12:00 weekly for 3 weeks, paid at the counter
    response = take(staff, customer, rental, free_time(3), "counter")
    # then 3 confirmed admin bookings, a week apart, on one pending counter order with a line per week
    weeks = list(Reservation.objects.order_by("starts_at"))
    assert [r.starts_at for r in weeks] == [jst(day, "10:00") for day in WEEKS]
    assert {(r.member_id, r.status, r.channel) for r in weeks} == {(customer.pk, "confirmed", "admin")}
    order = Order.objects.get()
    assert (order.status, order.payment_method, order.total_yen) == ("pending", "counter", 6000)
    assert order.lines.count() == 3
    assert {order_for_reservation(r).pk for r in weeks} == {order.pk}
    # and each week's audit entry names the staff member and the repeat
    entries = AuditEntry.objects.filter(action="reservation.created")
    assert entries.count() == 3
    assert {entry.actor_id for entry in entries} == {admin_user.pk}
    assert {entry.payload["channel"] for entry in entries} == {"admin"}
    assert {entry.payload["repeat"]["weeks"] for entry in entries} == {3}
    # and staff land on the first week, told how many weeks were booked, the first linked
    first_url = reverse("admin:inventory_reservation_change", args=[weeks[0].pk])
    assert response.status_code == 302
    assert response["Location"] == first_url
    message = messages_of(response)[0]
    assert "3 weeks are booked for 山田 花子" in message
    assert f'<a href="{first_url}">#{weeks[0].pk}</a>' in message
    assert "It is confirmed" in message


def test_staff_book_3_weeks_by_card_as_one_order_paid_through_the_link(staff, customer, rental):
    response = take(staff, customer, rental, free_time(3), "card")
    weeks = list(Reservation.objects.order_by("starts_at"))
    assert len(weeks) == 3
    assert {r.status for r in weeks} == {Reservation.Status.TENTATIVE}
    order = Order.objects.get()
    assert (order.status, order.payment_method, order.total_yen) == ("pending", "card", 6000)
    assert order.lines.count() == 3
    assert "A payment link is e-mailed to hanako@example.com" in messages_of(response)[0]


def test_a_free_class_is_booked_weekly_without_an_order(staff, customer):
    free_lesson = ItemFactory(fixed=True, stock=1)
    RepeatingEventFactory(item=free_lesson, weekday=DAY.weekday(), starts_at=time(10), ends_at=time(11))
    response = take(staff, customer, free_lesson, slot_time(2), "free")
    assert response.status_code == 302
    assert Reservation.objects.filter(status="confirmed", channel="admin").count() == 2
    assert list(Slot.objects.values_list("booked", flat=True)) == [1, 1]
    assert not Order.objects.exists()


def test_the_payment_step_prices_all_the_weeks_and_lists_their_dates(staff, customer, rental):
    response = staff.get(reverse(TAKE), booking(customer, rental, free_time(3), step="payment"))
    html = response.content.decode()
    # each method that can pay the repeat is priced for all the weeks
    shown = dict(response.context["payment_form"].fields["payment_method"].widget.choices)
    assert shown["counter"] == "Pay at the counter — ¥6,000"
    assert shown["card"] == "Card — ¥6,000"
    # and the booking says the price of all the weeks, and each week's date
    assert "Booking price (3 weeks)" in html
    assert "¥6,000" in html
    for day in WEEKS:
        assert f"{day:%Y-%m-%d}" in html
    # and the confirm page shows the method's lines for all the weeks
    confirm = staff.post(
        reverse(TAKE), booking(customer, rental, free_time(3), payment_method="counter", step="confirm")
    )
    assert confirm.context["offer"].price.charge.total_yen == 6000
    assert "Booking price (3 weeks): ¥6,000" in confirm.content.decode()
    assert not Reservation.objects.exists()


def test_one_week_is_a_single_booking(staff, customer, rental):
    response = take(staff, customer, rental, free_time(1), "counter")
    assert response.status_code == 302
    assert Reservation.objects.count() == 1
    assert "repeat" not in AuditEntry.objects.get(action="reservation.created").payload
    assert "is booked" in messages_of(response)[0]


# --- all or nothing --------------------------------------------------------------------------------------


def test_a_full_week_books_nothing_and_is_named(staff, customer, lesson):
    # given the second week's class is full
    other = MemberFactory()
    reservation_create(
        member=other,
        by=other,
        item=lesson,
        starts_at=jst(WEEKS[1], "10:00"),
        ends_at=jst(WEEKS[1], "11:00"),
        payment_method="counter",
    )
    # when staff go on with 3 weeks
    response = staff.get(reverse(TAKE), booking(customer, lesson, slot_time(3), step="payment"))
    # then the time step names that week, and nothing is booked
    assert response.context["step"] == "time"
    assert f"This week is full: {WEEKS[1]:%Y-%m-%d}" in str(response.context["time_form"].errors["weeks"])
    booked = staff.post(
        reverse(TAKE), booking(customer, lesson, slot_time(3), payment_method="counter", step="book")
    )
    assert booked.context["step"] == "time"
    assert f"{WEEKS[1]:%Y-%m-%d}" in str(booked.context["time_form"].errors)
    assert Reservation.objects.filter(member=customer).count() == 0
    assert not Order.objects.filter(member=customer).exists()


def test_a_week_filled_after_the_preview_books_nothing_and_is_named(staff, customer, rental, monkeypatch):
    """Another booking lands between the page's checks and the booking: the service refuses every week."""
    from inventory.admin import staff_booking

    checked = staff_booking.staff_repeat_preview

    def then_filled(*args, **kwargs):
        result = checked(*args, **kwargs)
        for _n in range(2):  # both places of the third week's 10:00–12:00
            other = MemberFactory()
            reservation_create(
                member=other,
                by=other,
                item=rental,
                starts_at=jst(WEEKS[2], "11:00"),
                ends_at=jst(WEEKS[2], "12:00"),
                payment_method="counter",
            )
        return result

    data = booking(customer, rental, free_time(3), payment_method="counter", step="book")
    monkeypatch.setattr(staff_booking, "staff_repeat_preview", then_filled)
    response = staff.post(reverse(TAKE), data)
    assert response.status_code == 200
    assert response.context["step"] == "time"
    errors = str(response.context["time_form"].errors)
    assert f"Nothing was booked: this week is full: {WEEKS[2]:%Y-%m-%d}" in errors
    assert not Reservation.objects.filter(member=customer).exists()
    assert not Order.objects.filter(member=customer).exists()


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weeks", ["13", "0", "-2", "three"])
def test_a_number_of_weeks_out_of_range_is_refused(staff, customer, rental, weeks):
    data = booking(customer, rental, free_time(weeks), payment_method="counter", step="book")
    response = staff.post(reverse(TAKE), data)
    assert response.context["step"] == "time"
    assert response.context["time_form"].errors["weeks"]
    if weeks == "13":
        assert "Enter 1 (this booking only) to 12 weeks." in str(response.context["time_form"].errors)
    assert not Reservation.objects.exists()
    assert not Order.objects.exists()


def test_a_ticket_cannot_pay_a_repeat_booking(staff, customer, lesson):
    # given the customer's ticket for the class (it pays one booking, not a repeat)
    ticket = issue_ticket(customer, TicketTypeFactory(items=[lesson]))
    uses = ticket.uses_left
    # then the payment step does not offer it for 3 weeks
    page = staff.get(reverse(TAKE), booking(customer, lesson, slot_time(3), step="payment"))
    shown = dict(page.context["payment_form"].fields["payment_method"].widget.choices)
    assert f"ticket:{ticket.pk}" not in shown
    assert "counter" in shown
    # and posting it anyway is refused next to the method
    for step in ("confirm", "book"):
        data = booking(customer, lesson, slot_time(3), payment_method=f"ticket:{ticket.pk}", step=step)
        response = staff.post(reverse(TAKE), data)
        assert response.context["step"] == "payment"
        assert "A repeat booking is paid by card, at the counter or free" in str(
            response.context["payment_form"].errors["payment_method"]
        )
    assert not Reservation.objects.exists()
    ticket.refresh_from_db()
    assert ticket.uses_left == uses


# --- the override reason lifts the window and deadline of every week ---------------------------------------


def test_a_week_beyond_the_booking_window_needs_a_reason_for_all_the_weeks(
    staff, customer, rental, admin_user
):
    # given bookings open 10 days ahead: the second and third weeks are beyond the window
    ReservationSettingsFactory(book_ahead_days=10)
    page = staff.get(reverse(TAKE), booking(customer, rental, free_time(3), step="payment"))
    assert f"{WEEKS[1]:%Y-%m-%d}: Bookings for that date are not open yet." in page.content.decode()
    # when staff go on without a reason, they are asked for it and nothing is booked
    data = booking(customer, rental, free_time(3), payment_method="counter", step="confirm")
    refused = staff.post(reverse(TAKE), data)
    assert "give the reason" in str(refused.context["payment_form"].errors["override_reason"])
    assert staff.post(reverse(TAKE), {**data, "step": "book"}).context["step"] == "payment"
    assert not Reservation.objects.exists()
    # when they give one, every week is booked and each week's entry records it
    response = take(staff, customer, rental, free_time(3), "counter", override_reason="回数券の常連様")
    assert response.status_code == 302
    assert Reservation.objects.count() == 3
    entries = AuditEntry.objects.filter(action="reservation.created")
    assert [entry.payload["override_reason"] for entry in entries] == ["回数券の常連様"] * 3
    assert {entry.actor_id for entry in entries} == {admin_user.pk}


def test_a_first_week_inside_the_deadline_needs_a_reason(staff, customer, lesson):
    ReservationSettingsFactory(booking_deadline_minutes=10 * 24 * 60)
    data = booking(customer, lesson, slot_time(2), payment_method="counter", step="book")
    refused = staff.post(reverse(TAKE), data)
    assert "give the reason" in str(refused.context["payment_form"].errors["override_reason"])
    assert not Reservation.objects.exists()
    response = take(staff, customer, lesson, slot_time(2), "counter", override_reason="店長承認済み")
    assert response.status_code == 302
    assert Reservation.objects.count() == 2


def test_capacity_is_never_overridden_for_a_week(staff, customer, lesson):
    SlotFactory(item=lesson, starts_at=jst(WEEKS[2], "10:00"), booked=1)
    ReservationSettingsFactory(booking_deadline_minutes=10 * 24 * 60)
    data = booking(
        customer, lesson, slot_time(3), payment_method="counter", override_reason="どうしても", step="book"
    )
    response = staff.post(reverse(TAKE), data)
    assert response.context["step"] == "time"
    assert f"{WEEKS[2]:%Y-%m-%d}" in str(response.context["time_form"].errors)
    assert not Reservation.objects.filter(member=customer).exists()


# --- the member's coupon code and points ----------------------------------------------------------------


def test_a_once_only_coupon_discounts_all_the_weeks_once(staff, customer, rental):
    coupon = CouponFactory(
        code="SPRING", discount_kind=Coupon.DiscountKind.YEN, discount_value=1000, usage_limit=1
    )
    # the payment step asks for it, and prices the weeks with it
    page = staff.post(
        reverse(TAKE),
        booking(customer, rental, free_time(3), payment_method="counter", coupon="spring", step="confirm"),
    )
    assert page.context["offer"].price.charge.total_yen == 5000
    response = take(staff, customer, rental, free_time(3), "counter", coupon="spring")
    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.subtotal_yen, order.coupon_discount_yen, order.total_yen) == (6000, 1000, 5000)
    assert order.lines.count() == 3
    assert CouponRedemption.objects.filter(coupon=coupon, order=order).count() == 1


def test_points_pay_part_of_all_the_weeks(staff, customer, rental):
    points_grant(member=customer, amount=5000, kind=PointEntry.Kind.PURCHASE, by=None, system="test")
    page = staff.get(reverse(TAKE), booking(customer, rental, free_time(3), step="payment"))
    assert "points" in page.context["extras_form"].fields
    response = take(staff, customer, rental, free_time(3), "counter", points="2500")
    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.points_used, order.total_yen) == (2500, 3500)
    assert balance_of(customer) == 2500


def test_a_single_booking_takes_a_coupon_too(staff, customer, rental):
    CouponFactory(code="TENOFF", discount_value=10)
    response = take(staff, customer, rental, free_time(1), "counter", coupon="TENOFF")
    assert response.status_code == 302
    assert Order.objects.get().total_yen == 1800


def test_an_unknown_coupon_is_refused_next_to_its_field_and_nothing_is_booked(staff, customer, rental):
    for step in ("confirm", "book"):
        data = booking(customer, rental, free_time(3), payment_method="counter", coupon="NOPE", step=step)
        response = staff.post(reverse(TAKE), data)
        assert response.context["step"] == "payment"
        assert response.context["extras_form"].errors["coupon"]
    assert not Reservation.objects.exists()
    assert not Order.objects.exists()


def test_staff_typing_unknown_codes_are_not_throttled(staff, customer, rental):
    """Guessing is throttled for members; staff taking a phone booking can read every coupon in the admin,
    and their mistakes must not lock out the shop's own address."""
    from promotions import throttle

    CouponFactory(code="REAL", discount_value=10)
    for n in range(throttle.LIMIT + 2):
        data = booking(
            customer, rental, free_time(1), payment_method="counter", coupon=f"NOPE{n}", step="confirm"
        )
        errors = staff.post(reverse(TAKE), data, REMOTE_ADDR="203.0.113.50").context["extras_form"].errors
        assert "There is no coupon with this code" in str(errors["coupon"])
    response = take(staff, customer, rental, free_time(1), "counter", coupon="real")
    assert response.status_code == 302
    assert Order.objects.get().coupon_discount_yen == 200
    assert not throttle.is_throttled(member_id=None, ip="203.0.113.50")


def test_points_with_a_method_that_takes_none_are_refused(staff, customer, lesson):
    # given the customer's points and a ticket for the class (a ticket takes no points)
    points_grant(member=customer, amount=5000, kind=PointEntry.Kind.PURCHASE, by=None, system="test")
    ticket = issue_ticket(customer, TicketTypeFactory(items=[lesson]))
    data = booking(
        customer, lesson, slot_time(1), payment_method=f"ticket:{ticket.pk}", points="100", step="confirm"
    )
    for step in ("confirm", "book"):
        response = staff.post(reverse(TAKE), {**data, "step": step})
        assert response.context["step"] == "payment"
        assert "takes no points or coupons" in str(response.context["extras_form"].errors["points"])
    assert not Reservation.objects.exists()
    assert balance_of(customer) == 5000
