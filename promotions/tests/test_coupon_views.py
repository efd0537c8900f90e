"""The coupon code field (issue 15 "Coupons"): on the booking confirm page and the ticket purchase page;
applying a code shows the coupon's line in the breakdown; booking or buying with it redeems it; a refusal is
shown next to the field and nothing is booked; guessing is throttled per member and per address.

The clock is frozen at Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

from __future__ import annotations

from datetime import date

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from payments.reservations import order_for_reservation
from promotions import throttle
from promotions.models import Coupon, CouponRedemption
from promotions.tests.factories import CouponFactory
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db

NOW = jst(date(2027, 6, 1), "09:00")
MON = date(2027, 6, 7)
BOOKING = {"date": MON, "start_time": "10:00", "end_time": "12:00", "quantity": 1}  # 2 hours: 2,000 yen
UNKNOWN = "There is no coupon with this code. Check the code and try again."
THROTTLED = "Too many unknown coupon codes; try again in 10 minutes."


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    for ip in ("127.0.0.1", "203.0.113.7", "203.0.113.8"):
        throttle.reset(member_id=None, ip=ip)
    yield
    for ip in ("127.0.0.1", "203.0.113.7", "203.0.113.8"):
        throttle.reset(member_id=None, ip=ip)


@pytest.fixture
def item():
    ReservationSettingsFactory()
    return ItemFactory(units=[(60, 1000)], stock=5)


def logged_in(client, member=None):
    member = member or MemberFactory()
    client.force_login(member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return member


def post(client, item, **data):
    return client.post(reverse("site:book", args=[item.pk]), {**BOOKING, **data})


def field_error(message: str) -> str:
    return f'<p class="field-error">{message}</p>'


# --- the booking confirm page ---------------------------------------------------------------------------


def test_the_confirm_page_asks_for_a_coupon_code(client, item):
    logged_in(client)
    content = post(client, item, step="confirm").content.decode()
    assert 'name="coupon"' in content


def test_applying_a_coupon_shows_its_line_in_the_breakdown(client, item):
    CouponFactory(code="SUMMER10", discount_value=10)
    logged_in(client)
    content = post(client, item, step="confirm", extras="1", coupon="ｓｕｍｍｅｒ１０").content.decode()
    assert "Coupon SUMMER10: -¥200" in content
    assert "¥1,800" in content


def test_booking_with_a_coupon_redeems_it_for_the_booking_s_order(client, item):
    coupon = CouponFactory(code="SUMMER10", discount_value=10)
    member = logged_in(client)
    response = post(client, item, step="book", payment_method="counter", extras="1", coupon="summer10")
    assert response.status_code == 302
    order = order_for_reservation(Reservation.objects.get(member=member))
    assert (order.coupon_discount_yen, order.total_yen) == (200, 1800)
    assert CouponRedemption.objects.get(order=order).coupon == coupon


def test_a_100_percent_coupon_books_by_card_without_a_checkout(client, item):
    CouponFactory(code="FREE", discount_value=100)
    member = logged_in(client)
    response = post(client, item, step="book", payment_method="card", extras="1", coupon="FREE")
    reservation = Reservation.objects.get(member=member)
    assert response.url == reverse("site:reservation_detail", args=[reservation.pk])
    assert reservation.status == Reservation.Status.CONFIRMED
    assert order_for_reservation(reservation).status == Order.Status.PAID


@pytest.mark.parametrize(
    ("coupon", "typed", "message"),
    [
        (None, "NOSUCH", UNKNOWN),
        (None, "SUMMER-10", "A coupon code has only letters A–Z and digits 0–9 (no spaces or symbols)."),
        ({"usage_limit": 1, "used_count": 1}, "SUMMER10", "This coupon has been used up."),
        ({"valid_until": jst(date(2027, 6, 1), "09:00")}, "SUMMER10", "This coupon has expired"),
        ({"valid_from": jst(date(2027, 6, 2), "00:00")}, "SUMMER10", "This coupon is not valid yet"),
    ],
)
def test_a_refusal_is_shown_next_to_the_field_and_nothing_is_booked(client, item, coupon, typed, message):
    if coupon is not None:
        CouponFactory(code="SUMMER10", **coupon)
    member = logged_in(client)
    response = post(client, item, step="book", payment_method="counter", extras="1", coupon=typed)
    assert response.status_code == 200
    assert f'<p class="field-error">{message}' in response.content.decode()
    assert not Reservation.objects.filter(member=member).exists()


def test_a_coupon_scoped_to_another_item_is_refused_for_this_booking(client, item):
    CouponFactory(code="OTHER", items=[ItemFactory()])
    logged_in(client)
    response = post(client, item, step="confirm", extras="1", coupon="OTHER")
    assert field_error("This coupon does not apply to this booking.") in response.content.decode()


# --- the ticket purchase page ---------------------------------------------------------------------------


def test_a_ticket_purchase_takes_a_coupon(client):
    CouponFactory(code="TICKET", discount_kind=Coupon.DiscountKind.YEN, discount_value=1000)
    member = logged_in(client)
    punch_card = TicketTypeFactory()
    url = reverse("tickets:buy", args=[punch_card.pk])
    content = client.get(url).content.decode()
    assert 'name="coupon"' in content
    content = client.post(url, {"step": "confirm", "extras": "1", "coupon": "ticket"}).content.decode()
    assert "Coupon TICKET: -¥1,000" in content
    response = client.post(url, {"step": "buy", "extras": "1", "coupon": "ticket"})
    assert response.status_code == 302
    order = Order.objects.get(member=member)
    assert order.coupon_discount_yen == 1000
    assert CouponRedemption.objects.filter(order=order).exists()


def test_a_free_trial_asks_for_no_coupon(client):
    logged_in(client)
    trial = TicketTypeFactory(free_trial=True)
    content = client.get(reverse("tickets:buy", args=[trial.pk])).content.decode()
    assert 'name="coupon"' not in content


# --- guessing -------------------------------------------------------------------------------------------


def guess(client, item, code: str, ip: str = "127.0.0.1"):
    return client.post(
        reverse("site:book", args=[item.pk]),
        {**BOOKING, "step": "confirm", "extras": "1", "coupon": code},
        REMOTE_ADDR=ip,
    ).content.decode()


def test_after_5_unknown_codes_the_member_is_refused_even_a_good_code(client, item):
    # given a real coupon
    CouponFactory(code="REAL")
    logged_in(client)
    # when the member tries 5 unknown codes, each is refused as unknown
    for n in range(throttle.LIMIT):
        assert field_error(UNKNOWN) in guess(client, item, f"GUESS{n}", ip="203.0.113.7")
    # then the next try is refused for a while, even with the real code, and says so
    content = guess(client, item, "REAL", ip="203.0.113.8")  # another address: the member's own count
    assert field_error(THROTTLED) in content
    assert "Coupon REAL" not in content


def test_the_address_is_throttled_across_members(item):
    # given 5 unknown codes from one address by 5 different members
    for n in range(throttle.LIMIT):
        other = Client()
        logged_in(other)
        assert field_error(UNKNOWN) in guess(other, item, f"GUESS{n}", ip="203.0.113.7")
    # then a sixth member at that address is refused, one elsewhere is not
    client = Client()
    logged_in(client)
    assert field_error(THROTTLED) in guess(client, item, "GUESS9", ip="203.0.113.7")
    assert field_error(UNKNOWN) in guess(client, item, "GUESS9", ip="203.0.113.8")


def test_known_codes_do_not_count_and_the_field_works_again_once_the_counters_expire(client, item):
    CouponFactory(code="REAL")
    logged_in(client)
    for _ in range(10):
        assert "Coupon REAL: -¥200" in guess(client, item, "REAL")
    for n in range(throttle.LIMIT):
        guess(client, item, f"GUESS{n}")
    assert field_error(THROTTLED) in guess(client, item, "REAL")
    # the counters live in the cache: their expiry is Redis's clock, so the test ends the window itself
    throttle.reset(member_id=None, ip="127.0.0.1")
    from members.models import Member

    for member in Member.objects.all():
        throttle.reset(member_id=member.pk, ip="")
    assert "Coupon REAL: -¥200" in guess(client, item, "REAL")


# --- cancelling -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gives_back", "effect"),
    [(True, "The coupon ONCE can be used again."), (False, "The coupon ONCE&#x27;s use is not given back.")],
)
def test_the_member_cancel_page_says_what_happens_to_the_coupon_and_cancelling_does_it(
    client, item, gives_back, effect
):
    # given a counter booking with a once-only coupon
    coupon = CouponFactory(code="ONCE", usage_limit=1, gives_back_on_cancel=gives_back)
    member = logged_in(client)
    post(client, item, step="book", payment_method="counter", extras="1", coupon="ONCE")
    reservation = Reservation.objects.get(member=member)
    url = reverse("site:reservation_cancel", args=[reservation.pk])
    # then the cancel page says what happens to the coupon's use
    assert effect in client.get(url).content.decode()
    # and cancelling does it
    client.post(url, {"reason": ""})
    reservation.refresh_from_db()
    coupon.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert coupon.used_count == (0 if gives_back else 1)
