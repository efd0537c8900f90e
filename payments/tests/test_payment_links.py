"""Paying a card booking through an e-mailed, signed, expiring link, without logging in (issue 11): staff
book by phone for a customer who may have no password (held 24 hours), or approve a card booking that
waited for approval (承認制: paid after approval, never before)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import translation

from inventory import payment_methods
from inventory.models import Reservation
from inventory.services import (
    release_unpaid_reservations,
    reservation_approve,
    reservation_cancel,
    reservation_create,
    reservation_decline,
)
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.exceptions import FulfilmentError, PaymentLinkError
from payments.links import MAX_AGE_SECONDS, SALT, order_for_payment_link, payment_link_token
from payments.models import Order
from payments.reservations import order_for_reservation
from payments.services import order_checkout_start

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture(autouse=True)
def english(client):
    """Messages are asserted in their English source text, in the code and on the pages."""
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def rental():
    ReservationSettingsFactory(tentative_hold_minutes=30)
    return ItemFactory(name="キャンプテント", units=[(60, 1000)], stock=1)


@pytest.fixture
def staff():
    return MemberFactory(is_staff=True, is_superuser=True)


def phone_booking(item, member, staff):
    return reservation_create(
        member=member,
        by=staff,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        payment_method="card",
        channel=Reservation.Channel.ADMIN,
        now=NOW,
    )


def link_path(reservation) -> str:
    return reverse("payments:pay_link", args=[payment_link_token(order_for_reservation(reservation))])


def test_a_card_booking_staff_take_by_phone_is_held_for_24_hours(rental, staff):
    booking = phone_booking(rental, MemberFactory(), staff)
    assert booking.status == Reservation.Status.TENTATIVE
    assert booking.channel == Reservation.Channel.ADMIN
    assert booking.hold_until == NOW + timedelta(hours=24)
    # the release job keeps it for the day, then frees the places
    assert release_unpaid_reservations(now=NOW + timedelta(hours=23, minutes=59)) == []
    assert [row.pk for row in release_unpaid_reservations(now=NOW + timedelta(hours=24, seconds=1))] == [
        booking.pk
    ]


def test_a_member_card_booking_keeps_the_settings_hold(rental):
    member = MemberFactory()
    booking = reservation_create(
        member=member,
        by=member,
        item=rental,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        payment_method="card",
        now=NOW,
    )
    assert booking.hold_until == NOW + timedelta(minutes=30)


def test_the_link_pays_the_booking_without_logging_in(client, frozen, rental, staff):
    customer = MemberFactory(email="phone@example.com")
    customer.set_unusable_password()
    customer.save()
    booking = phone_booking(rental, customer, staff)
    path = link_path(booking)
    page = client.get(path)
    body = page.content.decode()
    assert page.status_code == 200
    assert "キャンプテント" in body
    assert "¥2,000" in body
    assert "Pay by card" in body
    gateway = client.post(path)  # the test gateway's page (no Stripe keys in tests)
    assert gateway.status_code == 200
    result_url = reverse("payments:pay_link_test_gateway", args=[path.rstrip("/").rsplit("/", 1)[1]])
    assert result_url in gateway.content.decode()
    paid = client.post(result_url, {"result": "succeed"})
    assert paid["Location"] == f"{path}?done=1"
    done = client.get(paid["Location"]).content.decode()
    assert "Payment completed" in done
    booking.refresh_from_db()
    assert booking.status == Reservation.Status.CONFIRMED
    assert order_for_reservation(booking).status == Order.Status.PAID


def test_an_altered_or_made_up_link_is_refused_with_a_message(client, rental, staff):
    booking = phone_booking(rental, MemberFactory(), staff)
    token = payment_link_token(order_for_reservation(booking))
    for bad in (token[:-2] + "xx", "made-up", signing.dumps({"order": 999999, "member": 1}, salt=SALT)):
        page = client.get(reverse("payments:pay_link", args=[bad]))
        assert page.status_code == 404
        assert "not valid" in page.content.decode()
        assert client.post(reverse("payments:pay_link", args=[bad])).status_code == 404
    # a link signed for another salt (another kind of signed value) is no payment link
    other = signing.dumps({"order": order_for_reservation(booking).pk, "member": booking.member_id})
    with pytest.raises(PaymentLinkError):
        order_for_payment_link(other)


def test_the_link_expires_with_the_hold(client, frozen, rental, staff):
    booking = phone_booking(rental, MemberFactory(), staff)
    path = link_path(booking)
    frozen.move_to(NOW + timedelta(seconds=MAX_AGE_SECONDS - 60), tick=False)
    assert client.get(path).status_code == 200
    frozen.move_to(NOW + timedelta(seconds=MAX_AGE_SECONDS + 60), tick=False)
    page = client.get(path)
    assert page.status_code == 404
    assert "expired" in page.content.decode()


def test_a_cancelled_booking_cannot_be_paid_through_its_link(client, frozen, rental, staff):
    booking = phone_booking(rental, MemberFactory(), staff)
    path = link_path(booking)
    reservation_cancel(reservation=booking, by=staff, as_staff=True, reason="電話で取消", now=NOW)
    body = client.get(path).content.decode()
    assert "can no longer be paid" in body
    assert "Pay by card" not in body
    client.post(path)
    assert order_for_reservation(booking).payments.count() == 0


# --- approval: a card booking is paid after approval --------------------------------------------------


@pytest.fixture
def approval_rental(rental):
    ReservationSettingsFactory(item=rental, approval_required=True, approval_hours=48)
    return rental


def member_card_booking(item, member):
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        payment_method="card",
        now=NOW,
    )


def test_a_card_booking_awaiting_approval_cannot_be_paid_yet(approval_rental):
    member = MemberFactory()
    booking = member_card_booking(approval_rental, member)
    assert booking.status == Reservation.Status.AWAITING
    order = order_for_reservation(booking)
    assert order.status == Order.Status.PENDING
    with pytest.raises(FulfilmentError, match="waiting for the shop's approval"):
        order_checkout_start(order=order, by=member, now=NOW)
    assert order.payments.count() == 0
    # the member is not sent to the payment page after booking
    assert payment_methods.get("card").next_url(reservation=booking) is None


def test_the_member_is_told_they_pay_after_approval(client, approval_rental):
    member = MemberFactory()
    client.force_login(member)
    client.cookies["django_language"] = "en"
    booking = member_card_booking(approval_rental, member)
    order = order_for_reservation(booking)
    page = client.get(reverse("payments:order_detail", args=[order.pk])).content.decode()
    assert "waiting for the shop's approval" in page
    assert reverse("payments:checkout", args=[order.pk]) not in page
    detail = client.get(reverse("site:reservation_detail", args=[booking.pk])).content.decode()
    assert "To be paid by card once the shop approves the booking: ¥2,000." in detail


def test_approving_a_card_booking_holds_it_a_day_for_the_link_payment(client, frozen, approval_rental, staff):
    booking = member_card_booking(approval_rental, MemberFactory())
    approved = reservation_approve(reservation=booking, by=staff, message="お待ちしています", now=NOW)
    assert approved.status == Reservation.Status.TENTATIVE
    assert approved.hold_until == NOW + timedelta(hours=24)
    path = link_path(approved)
    client.post(path)
    token = path.rstrip("/").rsplit("/", 1)[1]
    client.post(reverse("payments:pay_link_test_gateway", args=[token]), {"result": "succeed"})
    approved.refresh_from_db()
    assert approved.status == Reservation.Status.CONFIRMED


def test_declining_a_card_booking_cancels_its_unpaid_order(approval_rental, staff):
    booking = member_card_booking(approval_rental, MemberFactory())
    reservation_decline(reservation=booking, by=staff, message="満席", now=NOW)
    order = order_for_reservation(booking)
    assert order.status == Order.Status.CANCELLED
    assert order.payments.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_member_is_emailed_the_decision_with_the_link(celery_worker):
    ReservationSettingsFactory(tentative_hold_minutes=30)
    item = ItemFactory(name="撮影スタジオ", units=[(60, 1000)], stock=1)
    ReservationSettingsFactory(item=item, approval_required=True, approval_hours=48)
    member = MemberFactory(email="approval@example.com")
    staff = MemberFactory(is_staff=True)
    booking = member_card_booking(item, member)
    received = celery_worker.wait_for("approval@example.com", body_contains="approval")
    assert str(booking.pk) in celery_worker.body(received)
    reservation_approve(reservation=booking, by=staff, message="ご来店お待ちしています", now=NOW)
    approved = celery_worker.wait_for("approval@example.com", body_contains="ご来店お待ちしています")
    body = celery_worker.body(approved)
    assert "/payments/pay/" in body  # the link that pays it without logging in
    token = body.split("/payments/pay/", 1)[1].split("/", 1)[0]
    assert order_for_payment_link(token) == order_for_reservation(booking)
    other = MemberFactory(email="declined@example.com")
    second = reservation_create(
        member=other,
        by=other,
        item=item,
        starts_at=jst(MONDAY, "14:00"),
        ends_at=jst(MONDAY, "15:00"),
        payment_method="card",
        now=NOW,
    )
    reservation_decline(reservation=second, by=staff, message="設備点検のため", now=NOW)
    declined = celery_worker.wait_for("declined@example.com", body_contains="設備点検のため")
    assert "/payments/pay/" not in celery_worker.body(declined)
