"""Points on a repeat booking's confirm page (issue 15): with the weeks posted, the points note and the
points that can be used are those of the one order for all the weeks, not of one week.

The clock is frozen at Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

from __future__ import annotations

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
BOOKING = {"date": MON, "start_time": "10:00", "end_time": "11:00", "quantity": 1}  # 1 hour: 1,000 yen


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def item():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=90)
    settings_row = PointSettings.current()
    settings_row.base_rate_percent = 0
    settings_row.save()
    return ItemFactory(units=[(60, 1000)], stock=5)


@pytest.fixture
def member(client):
    member = MemberFactory()
    points_grant(member=member, amount=5000, kind=PointEntry.Kind.PURCHASE, by=None, system="test")
    client.force_login(member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return member


def post(client, item, **data):
    return client.post(reverse("site:book", args=[item.pk]), {**BOOKING, **data})


def test_the_note_says_how_many_points_can_pay_for_all_the_weeks(client, item, member):
    content = post(client, item, step="confirm", weeks="3").content.decode()
    assert "You have 5,000 points; up to 3,000 can pay for this booking." in content


def test_the_note_of_one_booking_is_one_weeks(client, item, member):
    content = post(client, item, step="confirm").content.decode()
    assert "You have 5,000 points; up to 1,000 can pay for this booking." in content


def test_applying_more_points_than_one_week_costs_prices_all_the_weeks_with_them(client, item, member):
    response = post(client, item, step="confirm", weeks="3", extras="1", points="2500")
    content = response.content.decode()
    assert response.context["extras_form"].errors == {}
    assert "Points used: -¥2,500" in content
    assert "¥500" in content


def test_booking_the_weeks_with_more_points_than_one_week_costs(client, item, member):
    response = post(client, item, step="book", weeks="3", payment_method="card", extras="1", points="2500")
    assert response.status_code == 302
    weeks = list(Reservation.objects.filter(member=member).order_by("starts_at"))
    assert len(weeks) == 3
    order = order_for_reservation(weeks[0])
    assert (order.points_used, order.total_yen) == (2500, 500)
    assert Order.objects.filter(member=member).count() == 1
    assert selectors.balance_of(member) == 2500
