"""The order page and the receipt name the coupon that discounted the order ("Coupon SUMMER10"), as the
confirm page's breakdown did, without payments knowing promotions (payments.registry.order_coupon_code).

The clock is frozen at Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

from __future__ import annotations

from datetime import date

import pytest
from django.conf import settings
from django.urls import reverse

from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.reservations import order_for_reservation
from payments.services import order_mark_paid
from promotions.tests.factories import CouponFactory

pytestmark = pytest.mark.django_db

NOW = jst(date(2027, 6, 1), "09:00")
MON = date(2027, 6, 7)
BOOKING = {"date": MON, "start_time": "10:00", "end_time": "12:00", "quantity": 1}  # 2 hours: 2,000 yen


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def member(client):
    ReservationSettingsFactory()
    member = MemberFactory()
    client.force_login(member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return member


def book(client, member, **extras):
    item = ItemFactory(units=[(60, 1000)], stock=5)
    data = {**BOOKING, "step": "book", "payment_method": "counter", "extras": "1", **extras}
    response = client.post(reverse("site:book", args=[item.pk]), data)
    assert response.status_code == 302
    return order_for_reservation(Reservation.objects.get(member=member))


def test_the_receipt_and_the_order_page_name_the_coupon(client, member):
    CouponFactory(code="SUMMER10", discount_value=10)
    order = book(client, member, coupon="summer10")
    order_mark_paid(order=order, now=NOW)
    for name in ("order_receipt", "order_detail"):
        body = client.get(reverse(f"payments:{name}", args=[order.pk])).content.decode()
        assert '<th colspan="2">Coupon SUMMER10</th><td>-¥200</td>' in body, name


def test_an_order_without_a_coupon_has_no_coupon_line(client, member):
    order = book(client, member)
    order_mark_paid(order=order, now=NOW)
    body = client.get(reverse("payments:order_receipt", args=[order.pk])).content.decode()
    assert "Coupon" not in body


def test_the_paid_mail_names_the_coupon(client, member, monkeypatch):
    from django.utils import translation

    from core import emails

    sent = []
    monkeypatch.setattr(
        emails.send_email, "delay_on_commit", lambda **message: sent.append(message), raising=False
    )
    CouponFactory(code="SUMMER10", discount_value=10)
    order = book(client, member, coupon="summer10")
    with translation.override("en"):  # a test client request leaves the thread in Japanese
        order_mark_paid(order=order, now=NOW)
    [paid] = [message for message in sent if "Order number" in message["body"]]
    assert "Coupon SUMMER10: -¥200" in paid["body"]
