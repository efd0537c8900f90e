"""The booking confirm page takes points (issue 14 "Spending"): the field shows the member's balance and how
many can pay for the booking; applying them shows the price with them; booking with them spends them (a
booking they pay in full lands on the reservation, confirmed, with no checkout); a refusal is shown next to
the field and nothing is booked.

The clock is frozen at Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.conf import settings
from django.urls import reverse

from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from payments.reservations import order_for_reservation
from points import selectors
from points.models import PointEntry, PointSettings
from points.services import points_grant

pytestmark = pytest.mark.django_db

NOW = jst(date(2027, 6, 1), "09:00")
MON = date(2027, 6, 7)
BOOKING = {"date": MON, "start_time": "10:00", "end_time": "12:00", "quantity": 1}  # 2 hours: 2,000 yen


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def item():
    ReservationSettingsFactory()
    settings_row = PointSettings.current()
    settings_row.base_rate_percent = 0
    settings_row.save()
    return ItemFactory(units=[(60, 1000)], stock=5)


def member_with(client, points: int, **fields):
    member = MemberFactory(**fields)
    if points:
        points_grant(member=member, amount=points, kind=PointEntry.Kind.PURCHASE, by=None, system="test")
    client.force_login(member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return member


def post(client, item, **data):
    return client.post(reverse("site:book", args=[item.pk]), {**BOOKING, **data})


def test_the_confirm_page_shows_the_balance_and_how_many_points_can_pay(client, item):
    member_with(client, 3000)
    response = post(client, item, step="confirm")
    content = response.content.decode()
    assert response.status_code == 200
    assert 'name="points"' in content
    assert "You have 3,000 points; up to 2,000 can pay for this booking." in content


def test_the_confirm_page_says_each_methods_limit_when_they_differ(client, item):
    # a member discount applies to a card checkout only: card can take fewer points than the counter
    member_with(client, 3000, member_discount_pct=10)
    content = post(client, item, step="confirm").content.decode()
    assert "You have 3,000 points; up to 2,000 (Pay at the counter), 1,800 (Card) can pay" in content


def test_a_member_without_points_is_not_asked_for_any(client, item):
    member_with(client, 0)
    content = post(client, item, step="confirm").content.decode()
    assert 'name="points"' not in content


def test_applying_points_shows_the_price_with_them(client, item):
    member_with(client, 3000)
    content = post(client, item, step="confirm", extras="1", points="500").content.decode()
    assert "Points used: -¥500" in content
    assert "¥1,500" in content


def test_applying_keeps_the_payment_method_chosen(client, item):
    member_with(client, 3000)
    content = post(
        client, item, step="confirm", extras="1", points="500", payment_method="card"
    ).content.decode()
    tags = {
        value: tag
        for tag in re.findall(r'<input type="radio" name="payment_method"[^>]*>', content)
        for value in re.findall(r'value="([^"]+)"', tag)
    }
    assert "checked" in tags["card"]
    assert "checked" not in tags["counter"]


def test_booking_with_points_that_pay_in_full_lands_on_the_confirmed_reservation(client, item):
    # given
    member = member_with(client, 3000)
    # when the member books by card with 2,000 points
    response = post(client, item, step="book", payment_method="card", extras="1", points="2000")
    # then no checkout: the reservation's page, the booking confirmed, its card order paid at 0 yen
    reservation = Reservation.objects.get(member=member)
    assert response.status_code == 302
    assert response.url == reverse("site:reservation_detail", args=[reservation.pk])
    assert reservation.status == Reservation.Status.CONFIRMED
    order = order_for_reservation(reservation)
    assert (order.status, order.payment_method, order.points_used) == (Order.Status.PAID, "card", 2000)
    assert selectors.balance_of(member) == 1000


def test_booking_with_points_that_pay_in_part_goes_on_to_the_checkout_of_the_rest(client, item):
    member = member_with(client, 3000)
    response = post(client, item, step="book", payment_method="card", extras="1", points="500")
    order = Order.objects.get(member=member)
    assert response.status_code == 302
    assert response.url == reverse("payments:checkout", args=[order.pk])
    assert (order.total_yen, order.points_used) == (1500, 500)


def test_booking_at_the_counter_with_points(client, item):
    member = member_with(client, 3000)
    response = post(client, item, step="book", payment_method="counter", extras="1", points="800")
    assert response.status_code == 302
    order = Order.objects.get(member=member)
    assert (order.status, order.total_yen, order.points_used) == (Order.Status.PENDING, 1200, 800)
    assert selectors.balance_of(member) == 2200


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("5000", "You have 3,000 points; you cannot use 5,000."),
        ("abc", "Enter the points to use as a whole number."),
        ("-1", "Enter 0 or more points."),
    ],
)
def test_a_refusal_is_shown_next_to_the_points_field_and_nothing_is_booked(client, item, points, message):
    # given
    member = member_with(client, 3000)
    # when
    response = post(client, item, step="book", payment_method="card", extras="1", points=points)
    # then the confirm page again, the refusal next to the field, the method still chosen
    content = response.content.decode()
    assert response.status_code == 200
    assert f'<p class="field-error">{message}</p>' in content
    assert re.search(r'value="card"[^>]*checked', content)
    assert not Reservation.objects.filter(member=member).exists()
    assert selectors.balance_of(member) == 3000


def test_more_points_than_the_booking_can_take_are_refused(client, item):
    member = member_with(client, 3000)
    response = post(client, item, step="book", payment_method="counter", extras="1", points="2500")
    assert (
        '<p class="field-error">At most 2,000 points can pay for this order.</p>' in response.content.decode()
    )
    assert not Reservation.objects.filter(member=member).exists()
