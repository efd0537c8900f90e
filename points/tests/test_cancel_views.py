"""The pages around purchase points: what an order will earn shown before paying (booking confirm, ticket
confirm, the booking e-mail, the order page); the cancellation preview before anyone confirms (the
member's cancel page, the staff's order cancel, refund and reservation cancel pages); a member told to
contact the shop when the points were spent; staff choosing to keep them or deduct them from the refund."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse
from django.utils import translation

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, Refund
from payments.reservations import order_for_reservation
from payments.services import order_mark_paid
from payments.tests.money import MONDAY, NOW
from points.models import PointEntry, PointSettings, PointShortfall
from points.selectors import balance_of
from points.services import points_use
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.PAYMENTS_CARD_CHECKOUT = True
    row = PointSettings.current()
    row.base_rate_percent = 10
    row.save()


def english(client):
    client.cookies["django_language"] = "en"
    return client


def card_booking(member=None, *, price: int = 1000) -> Reservation:
    """A member's 2-hour card booking (2 × `price` yen), unpaid, starting far in the future (the cancel
    deadline is well ahead)."""
    ReservationSettingsFactory()
    member = member or MemberFactory()
    item = ItemFactory(units=[(60, price)], stock=1)
    return reservation_create(
        member=member, by=member, item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip


def paid(reservation: Reservation) -> Order:
    order = order_for_reservation(reservation)
    Order.objects.filter(pk=order.pk).update(stripe_payment_intent_id="pi_points")
    return order_mark_paid(order=order, now=NOW)


def test_the_booking_e_mail_and_the_order_page_say_what_paying_will_earn(client, mailoutbox):
    # given a 2,000-yen card booking at 10 %
    member = MemberFactory()
    reservation = card_booking(member)
    order = order_for_reservation(reservation)
    # then the order says 200 points to come
    assert order.points_to_earn == 200
    client.force_login(member)
    page = english(client).get(reverse("payments:order_detail", args=[order.pk])).content.decode()
    assert "You will earn 200 points when paid." in page


def test_the_booking_e_mail_says_what_paying_will_earn(monkeypatch, django_capture_on_commit_callbacks):
    from kombu.utils.json import dumps, loads

    from core import tasks

    queued = []
    monkeypatch.setattr(
        tasks.send_templated_email, "apply_async", lambda kwargs, **options: queued.append(kwargs)
    )
    # when a member books 2,000 yen by card in English (10 %)
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        card_booking(MemberFactory(email="earn@example.com"))
    monkeypatch.undo()
    # then the booking e-mail says the 200 points to come
    [message] = [each for each in queued if each["template"] == "inventory/reservation_booked"]
    tasks.send_templated_email(**loads(dumps(message)))
    assert "You will earn 200 points when paid." in mail.outbox[-1].body


def test_the_ticket_confirm_page_says_what_buying_will_earn(client):
    # given a 5,000-yen punch card with 30 points per unit
    ticket_type = TicketTypeFactory(product__points_per_unit=30)
    member = MemberFactory()
    client.force_login(member)
    page = english(client).get(reverse("tickets:buy", args=[ticket_type.pk])).content.decode()
    assert "You will earn 30 points when paid." in page


def test_the_member_cancel_page_lists_the_points_taken_back(client):
    member = MemberFactory()
    reservation = card_booking(member)
    paid(reservation)
    client.force_login(member)
    page = english(client).get(reverse("site:reservation_cancel", args=[reservation.pk])).content.decode()
    assert "200 purchase points earned on this order are taken back." in page
    assert 'id="cancel-preview"' in page


def test_a_member_whose_points_were_spent_is_told_to_contact_the_shop_and_the_post_changes_nothing(client):
    # given a paid card booking whose 200 points the member has spent
    member = MemberFactory()
    reservation = card_booking(member)
    order = paid(reservation)
    points_use(member=member, amount=150, by=member, now=NOW)
    client.force_login(member)
    url = reverse("site:reservation_cancel", args=[reservation.pk])
    # then the cancel page says so before they confirm, with no button
    page = english(client).get(url).content.decode()
    assert "cannot be cancelled online" in page
    assert "150 points are missing" in page
    assert "Please contact the shop." in page
    assert "Cancel the reservation</button>" not in page
    # and a POST refuses the same way, changing nothing
    response = english(client).post(url, {"reason": ""})
    assert response.status_code == 200
    assert "Please contact the shop." in response.content.decode()
    reservation.refresh_from_db()
    order.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED
    assert order.status == Order.Status.PAID
    assert not Refund.objects.exists()
    assert balance_of(member) == 50


# --- staff ------------------------------------------------------------------------------------------------


def order_action(client, orders, **data):
    return client.post(
        reverse("admin:payments_order_changelist"),
        {"action": "cancel_selected", ACTION_CHECKBOX_NAME: [str(o.pk) for o in orders], **data},
    )


def test_staff_order_cancel_shows_the_preview_and_the_choice_only_when_points_are_missing(
    admin_client, stripe_api
):
    member = MemberFactory()
    order = paid(card_booking(member))
    english(admin_client)
    # points not spent: the preview, no choice
    page = order_action(admin_client, [order]).content.decode()
    assert "¥2,000 is refunded." in page
    assert "200 purchase points earned on this order are taken back." in page
    assert 'name="points"' not in page
    # points spent: the choice, with the number
    points_use(member=member, amount=150, by=member, now=NOW)
    page = order_action(admin_client, [order]).content.decode()
    assert 'name="points"' in page
    assert "Cancel without taking the points back" in page
    assert "Deduct 150 points from the refund (¥150)" in page


def test_staff_order_cancel_deducting_refunds_exactly_the_missing_yen_less(admin_client, stripe_api):
    member = MemberFactory()
    order = paid(card_booking(member))
    stripe_api.add_payment("pi_points", 2000)
    points_use(member=member, amount=150, by=member, now=NOW)
    # when staff cancel refunding in full, deducting the missing points
    response = order_action(
        admin_client, [order], confirm="yes", reason="店舗都合", refund_yen="2000", points="deduct"
    )
    assert response.status_code == 302
    # then the order is cancelled, 2,000 − 150 refunded, the 50 points left taken back
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert Refund.objects.get(order=order).amount_yen == 1850
    assert balance_of(member) == 0
    assert PointShortfall.objects.get(order=order).deducted_yen == 150


def test_staff_order_cancel_keeping_the_points(admin_client, stripe_api):
    member = MemberFactory()
    order = paid(card_booking(member))
    stripe_api.add_payment("pi_points", 2000)
    points_use(member=member, amount=150, by=member, now=NOW)
    order_action(admin_client, [order], confirm="yes", reason="店舗都合", refund_yen="2000", points="keep")
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert Refund.objects.get(order=order).amount_yen == 2000
    assert balance_of(member) == 50
    assert PointShortfall.objects.get(order=order).resolution == "kept"


def test_without_a_choice_the_staff_cancel_stops_with_the_missing_count(admin_client, stripe_api):
    member = MemberFactory()
    order = paid(card_booking(member))
    points_use(member=member, amount=150, by=member, now=NOW)
    # the form requires the answer: nothing changes
    response = order_action(english(admin_client), [order], confirm="yes", reason="x", refund_yen="2000")
    assert response.status_code == 200
    assert "points" in response.context["form"].errors
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_the_refund_page_previews_a_full_refund_and_offers_the_choice(admin_client, stripe_api):
    member = MemberFactory()
    order = paid(card_booking(member))
    stripe_api.add_payment("pi_points", 2000)
    points_use(member=member, amount=150, by=member, now=NOW)
    url = reverse("admin:payments_order_refund", args=[order.pk])
    page = english(admin_client).get(url).content.decode()
    assert 'id="undo-preview"' in page
    assert "150 points are missing" in page
    assert "Deduct 150 points from the refund (¥150)" in page
    # a full refund without a choice is refused before any money moves
    response = admin_client.post(url, {"amount_yen": "2000", "reason": "全額返金"})
    assert response.status_code == 200
    assert "150 points are missing" in str(response.context["form"].errors["amount_yen"])
    assert stripe_api.refund_requests() == []
    # a part refund leaves the points; the order is partially cancelled
    admin_client.post(url, {"amount_yen": "500", "reason": "一部返金"})
    assert balance_of(member) == 50
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_CANCELLED
    # the rest, deducting: cancelled, refunded less 150 yen
    admin_client.post(url, {"amount_yen": "1500", "reason": "残り", "points": "deduct"})
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert sorted(Refund.objects.filter(order=order).values_list("amount_yen", flat=True)) == [500, 1350]


def test_staff_reservation_cancel_offers_the_choice_and_deducts_from_the_refund(admin_client, stripe_api):
    member = MemberFactory()
    reservation = card_booking(member)
    order = paid(reservation)
    stripe_api.add_payment("pi_points", 2000)
    points_use(member=member, amount=150, by=member, now=NOW)
    url = reverse("admin:inventory_reservation_changelist")
    data = {"action": "cancel_selected", ACTION_CHECKBOX_NAME: [str(reservation.pk)]}
    page = english(admin_client).post(url, data).content.decode()
    assert "Deduct 150 points from the refund (¥150)" in page
    assert "150 points are missing" in page  # the row's preview
    response = admin_client.post(
        url, {**data, "confirm": "yes", "reason": "講師都合", "refund_yen": "2000", "points": "deduct"}
    )
    assert response.status_code == 302
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert Refund.objects.get(order=order).amount_yen == 1850
    assert PointShortfall.objects.get(order=order).resolution == "deducted"
