"""What the member reads about a booking's money: before cancelling, what the cancel does to what they paid
(refunded in full, or the shop deciding); after, on the reservation page, where the money stands, with a
link to the order."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import AuditEntry
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, PaymentSettings, Refund
from payments.reservations import order_for_reservation
from payments.tests.money import MONDAY, NOW, paid_card_booking, set_refund_policy
from payments.tests.test_webhooks import SECRET
from tickets.services import ticket_issue
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def client(client, settings):
    """A visitor who chose English (the shop's pages are Japanese unless the language cookie says so)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def page(client, name: str, pk: int):
    return client.get(reverse(name, args=[pk]))


def booking(method: str, **item):
    ReservationSettingsFactory()
    member = MemberFactory()
    reservation = reservation_create(
        member=member, by=member, item=ItemFactory(stock=1, **item), starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"), payment_method=method, now=NOW,
    )  # fmt: skip
    return member, reservation


# Committed for real: the refund is sent when the cancellation commits, before the page answers.
@pytest.mark.django_db(transaction=True)
def test_the_cancel_page_says_a_card_payment_is_refunded_in_full_and_the_booking_page_then_shows_it(
    stripe_api, client
):
    # given a member's paid 2,000-yen card booking and the default policy
    member, reservation, order = paid_card_booking(stripe_api)
    client.force_login(member)
    # when they open the cancel page
    before = page(client, "site:reservation_cancel", reservation.pk)
    # then it says before they confirm that the money goes back in full
    assert before.context["cancel_note"] == "Your payment of ¥2,000 will be refunded in full to your card."
    assert "refunded in full to your card" in before.content.decode()
    # when they cancel
    done = client.post(reverse("site:reservation_cancel", args=[reservation.pk]), {"reason": ""}, follow=True)
    # then the message says the refund happened, and the reservation page shows it with the order's link
    assert [str(message) for message in done.context["messages"]] == [
        "Your reservation has been cancelled. ¥2,000 has been refunded."
    ]
    assert Refund.objects.get(order=order).state == Refund.State.SUCCEEDED
    note = page(client, "site:reservation_detail", reservation.pk).context["money_note"]
    assert note.text == "¥2,000 has been refunded."
    assert note.url == reverse("payments:order_detail", args=[order.pk])


def test_with_the_staff_decide_policy_the_cancel_page_says_the_shop_will_contact_them(stripe_api, client):
    # given the shop decides refunds itself
    member, reservation, _order = paid_card_booking(stripe_api)
    set_refund_policy(PaymentSettings.RefundPolicy.STAFF_DECIDES)
    client.force_login(member)
    # when they open the cancel page, then it does not promise a refund
    before = page(client, "site:reservation_cancel", reservation.pk)
    assert before.context["cancel_note"] == (
        "You paid ¥2,000. The shop will contact you about refunding it after you cancel."
    )
    # when they cancel, then the reservation page says the shop will contact them
    client.post(reverse("site:reservation_cancel", args=[reservation.pk]), {"reason": ""})
    detail = page(client, "site:reservation_detail", reservation.pk)
    assert detail.context["money_note"].text == "The shop will contact you about refunding your payment."
    assert not stripe_api.refund_requests()


def test_a_counter_booking_says_nothing_is_paid_yet_and_what_to_pay_at_the_store(client):
    # given a member's 2,000-yen booking paid at the counter (not yet paid)
    member, reservation = booking("counter", units=[(60, 1000)])
    assert order_for_reservation(reservation).status == Order.Status.PENDING
    client.force_login(member)
    # when they look at the reservation and at the cancel page
    detail = page(client, "site:reservation_detail", reservation.pk)
    cancel = page(client, "site:reservation_cancel", reservation.pk)
    # then the one says what is paid at the store, the other that cancelling charges nothing
    assert detail.context["money_note"].text == "To be paid at the store: ¥2,000."
    nothing = "Nothing has been paid for this booking yet, so nothing is charged."
    assert cancel.context["cancel_note"] == nothing


def test_a_booking_without_money_has_no_money_note(client):
    # given a free booking
    member, reservation = booking("free")
    client.force_login(member)
    # when they look at it, then nothing about money is said
    detail = page(client, "site:reservation_detail", reservation.pk)
    assert detail.context["money_note"] is None
    assert 'id="money-note"' not in detail.content.decode()


def test_a_discounted_card_booking_shows_what_was_charged_on_the_member_pages(
    stripe_api, client, django_assert_max_num_queries
):
    # given a member with a 5% discount who paid a 2,000-yen booking by card (1,900 yen)
    member, reservation, order = paid_card_booking(stripe_api)
    assert reservation.price_yen == 2000
    member.member_discount_pct = 5
    member.save(update_fields=["member_discount_pct"])
    order.member_discount_yen, order.total_yen = 100, 1900
    order.save(update_fields=["member_discount_yen", "total_yen"])
    client.force_login(member)
    # when they look at the booking, then its price section shows the order's lines ending in 1,900
    charge = page(client, "site:reservation_detail", reservation.pk).context["money_note"].charge
    assert [(line.label, line.amount_yen) for line in charge.lines] == [
        ("Booking price", 2000),
        ("Member discount (5%)", -100),
    ]
    assert charge.total_yen == 1900
    # and with the discount hidden by the shop, one price already net of it, with no list-price explanation
    PaymentSettings.objects.filter(pk=1).update(show_member_discount=False)
    charge = page(client, "site:reservation_detail", reservation.pk).context["money_note"].charge
    assert ([(line.label, line.amount_yen) for line in charge.lines], charge.details) == (
        [("Booking price", 1900)],
        (),
    )
    # and the reservation list says 1,900 too, beside a counter booking
    book_more(member, reservation.item, ("13:00", "counter"))
    with CaptureQueriesContext(connection) as two_bookings:
        listing = client.get(reverse("site:reservation_list"))
    assert [(row.reservation.payment_method, row.charged_yen) for row in listing.context["upcoming"]] == [
        ("card", 1900),
        ("counter", 1000),
    ]
    # with the same number of queries for more bookings (one read of the orders per payment method)
    book_more(member, reservation.item, ("15:00", "card"), ("17:00", "counter"))
    with django_assert_max_num_queries(len(two_bookings)):
        listing = client.get(reverse("site:reservation_list"))
    # (the new card booking has the 5% taken off: 950)
    assert [row.charged_yen for row in listing.context["upcoming"]] == [1900, 1000, 950, 1000]


def book_more(member, item, *times):
    for hour, method in times:
        reservation_create(
            member=member, by=member, item=item, starts_at=jst(MONDAY, hour),
            ends_at=jst(MONDAY, f"{int(hour[:2]) + 1}:00"), payment_method=method, now=NOW,
        )  # fmt: skip


def test_the_order_a_booking_makes_is_recorded_with_who_booked(client):
    # given a member booking at the counter
    member, reservation = booking("counter", units=[(60, 1000)])
    order = order_for_reservation(reservation)
    # then the order's creation is in the audit trail, made by the member, with its amounts
    entry = AuditEntry.objects.get(action="order.created", object_id=str(order.pk))
    assert (entry.actor, entry.payload["payment_method"], entry.payload["total_yen"]) == (
        member,
        "counter",
        2000,
    )


def test_a_ticket_booking_shows_nothing_charged_on_the_member_pages(client):
    # given a member who booked a 2,500-yen lesson with a ticket
    ReservationSettingsFactory()
    member = MemberFactory()
    lesson = ItemFactory(units=[(60, 2500)], stock=1)
    ticket_issue(
        member=member,
        ticket_type=TicketTypeFactory(uses=5, items=[lesson]),
        source="manual",
        by=None,
        system="t",
    )
    reservation = reservation_create(
        member=member, by=member, item=lesson, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"),
        payment_method="ticket", now=NOW,
    )  # fmt: skip
    client.force_login(member)
    # when they look at the list and the booking, then both say 0 yen was charged, the price beside it
    [row] = client.get(reverse("site:reservation_list")).context["upcoming"]
    assert row.charged_yen == 0
    detail = page(client, "site:reservation_detail", reservation.pk)
    assert (detail.context["charged_yen"], reservation.price_yen) == (0, 2500)
    assert (
        "Paying with a ticket uses one of its uses per place booked; nothing is charged."
        in detail.content.decode()
    )
