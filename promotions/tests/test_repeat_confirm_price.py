"""The booking confirm page re-priced for a repeat booking (issue 15): with "repeat weekly for N weeks" posted
back by "Apply and show the price", each method that makes one order for all the weeks shows that order's
price, a line per week (a price rule matching one week only discounts that week; a once-only coupon counts
once), so the total shown is the order's total. One week is priced as before."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.reservations import order_for_reservation
from promotions.models import Coupon, PriceRule
from promotions.tests.factories import CouponFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def member(client, time_machine):
    time_machine.move_to(NOW, tick=False)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    member = MemberFactory()
    client.force_login(member)
    return member


@pytest.fixture
def room():
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("10:00", "18:00")), book_ahead_days=90)
    return ItemFactory(units=[(60, 1000)], stock=5)  # two hours: 2,000 yen a week


@pytest.fixture
def coupon():
    return CouponFactory(discount_kind=Coupon.DiscountKind.YEN, discount_value=1000, usage_limit=1)


@pytest.fixture
def second_week_rule():
    # matches the second week's start only (2027-06-14 10:00)
    second = jst(MONDAY + timedelta(weeks=1), "10:00")
    return PriceRule.objects.create(
        name="second week",
        position=1,
        kind=PriceRule.Kind.YEN,
        yen=500,
        starts_from=second,
        starts_until=second + timedelta(hours=1),
    )


def _post(**extra) -> dict:
    return {"date": MONDAY.isoformat(), "start_time": "10:00", "end_time": "12:00", "quantity": 1, **extra}


def _charge(page, key="card"):
    [price] = [price for price in page.context["method_prices"] if price.key == key]
    return price.charge


def test_a_three_week_repeat_shows_the_total_of_the_order_it_makes(
    client, member, room, coupon, second_week_rule
):
    url = reverse("site:book", args=[room.pk])
    # when the member asks for 3 weeks with a coupon and applies them
    page = client.post(url, _post(step="confirm", extras="1", coupon=coupon.code, weeks=3))
    assert page.status_code == 200
    charge = _charge(page)
    labels = [line.label for line in charge.lines]
    assert labels[0] == "Booking price (3 weeks)"
    assert charge.lines[0].amount_yen == 6000
    assert "Price rule discount" in labels  # the second week's rule, once
    assert charge.total_yen == 6000 - 500 - 1000
    assert "Booking price (3 weeks)" in page.content.decode()
    assert page.context["payment_form"]["weeks"].value() == 3  # the repeat asked for is kept
    # then booking it makes an order of that total
    done = client.post(
        url, _post(step="book", extras="1", coupon=coupon.code, weeks=3, payment_method="card")
    )
    assert done.status_code == 302
    weeks = list(Reservation.objects.filter(member=member).order_by("starts_at"))
    assert len(weeks) == 3
    order = order_for_reservation(weeks[0])
    assert order.lines.count() == 3
    assert charge.total_yen == order.total_yen


def test_the_counter_is_priced_for_every_week_too(client, member, room, second_week_rule):
    url = reverse("site:book", args=[room.pk])
    page = client.post(url, _post(step="confirm", extras="1", weeks=3))
    for price in page.context["method_prices"]:
        if price.key in ("card", "counter"):
            assert price.charge.lines[0].label == "Booking price (3 weeks)"
            assert price.charge.total_yen == 6000 - 500


def test_one_week_is_priced_as_before(client, member, room, coupon, second_week_rule):
    url = reverse("site:book", args=[room.pk])
    without = client.post(url, _post(step="confirm", extras="1", coupon=coupon.code))
    one_week = client.post(url, _post(step="confirm", extras="1", coupon=coupon.code, weeks=1))
    for page in (without, one_week):
        charge = _charge(page)
        assert [line.label for line in charge.lines] == ["Booking price", f"Coupon {coupon.code}"]
        assert charge.total_yen == 2000 - 1000  # the rule matches only the second week
        assert "Booking price (" not in page.content.decode()
    assert _charge(without) == _charge(one_week)
    # and booking one week makes an order of the total shown
    client.post(url, _post(step="book", extras="1", coupon=coupon.code, payment_method="card"))
    reservation = Reservation.objects.get(member=member)
    assert order_for_reservation(reservation).total_yen == _charge(without).total_yen
