"""End to end on the member site: book a paid rental by card, pay through the test gateway."""

from datetime import date

import pytest
from django.urls import reverse

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from payments.reservations import order_for_reservation

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def rental():
    ReservationSettingsFactory()
    return ItemFactory(name="キャンプテント", units=[(60, 1000), (180, 2000)], stock=1)


def test_member_books_a_paid_rental_and_pays_through_the_test_gateway(client, frozen, rental):
    # given a member who booked 10:00–14:00 (2,000 + 1,000 yen) by card
    member = MemberFactory()
    client.force_login(member)
    reservation = reservation_create(
        member=member, by=member, item=rental, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "14:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    order = order_for_reservation(reservation)
    # when they open the payment page: it is clearly the test gateway, with the lines and the total
    page = client.get(reverse("payments:checkout", args=[order.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "TEST" in body or "テスト" in body
    assert "キャンプテント" in body
    assert "¥3,000" in body
    # and a failed attempt leaves everything pending
    failed = client.post(reverse("payments:test_gateway_result", args=[order.pk]), {"result": "fail"})
    assert failed["Location"] == reverse("payments:checkout", args=[order.pk])
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    # when they pay
    paid = client.post(reverse("payments:test_gateway_result", args=[order.pk]), {"result": "succeed"})
    # then the order is paid, the reservation confirmed, and the receipt page shows the lines
    assert paid["Location"] == reverse("payments:order_detail", args=[order.pk])
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert reservation.status == Reservation.Status.CONFIRMED
    receipt = client.get(paid["Location"]).content.decode()
    assert "キャンプテント" in receipt
    assert "¥3,000" in receipt


def test_someone_elses_order_is_not_found(client, frozen, rental):
    owner = MemberFactory()
    reservation = reservation_create(
        member=owner, by=owner, item=rental, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    order = order_for_reservation(reservation)
    client.force_login(MemberFactory())
    assert client.get(reverse("payments:checkout", args=[order.pk])).status_code == 404
    assert (
        client.post(
            reverse("payments:test_gateway_result", args=[order.pk]), {"result": "succeed"}
        ).status_code
        == 404
    )
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_the_test_gateway_is_closed_when_stripe_keys_are_set(client, frozen, rental, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_" + "x" * 24
    member = MemberFactory()
    reservation = reservation_create(
        member=member, by=member, item=rental, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    client.force_login(member)
    order = order_for_reservation(reservation)
    assert (
        client.post(
            reverse("payments:test_gateway_result", args=[order.pk]), {"result": "succeed"}
        ).status_code
        == 404
    )
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_booking_by_card_on_the_member_site_goes_to_the_payment_page(client, frozen, rental):
    # given
    member = MemberFactory()
    client.force_login(member)
    form = {
        "date": MONDAY.isoformat(), "start_time": "10:00", "end_time": "12:00", "quantity": 1,
        "step": "book", "payment_method": "card",
    }  # fmt: skip
    # when the member books by card
    response = client.post(reverse("site:book", args=[rental.pk]), form)
    # then the booking is held and the member is sent to pay for it
    reservation = Reservation.objects.get(member=member)
    order = order_for_reservation(reservation)
    assert reservation.status == Reservation.Status.TENTATIVE
    assert order.total_yen == 2000
    assert response["Location"] == reverse("payments:checkout", args=[order.pk])
