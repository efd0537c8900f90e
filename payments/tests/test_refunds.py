"""Refunds with states, one code path whoever starts them (issue 10, defects 1–3): a member's cancel under
the shop's refund policy, a staff cancel that says how much, a refund made in Stripe's dashboard."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from core.models import AuditEntry
from inventory.models import Reservation
from inventory.services import reservation_cancel
from members.tests.factories import MemberFactory
from payments.exceptions import OrderError
from payments.models import Order, PaymentSettings, Refund
from payments.reservations import CardPayment
from payments.services import order_refund, refund_execute, refund_request
from payments.tests.money import (
    LATER,
    NOW,
    charge_refunded,
    paid_card_booking,
    pay_by_card,
    set_refund_policy,
)
from payments.tests.test_webhooks import SECRET, post, sign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def actions(order: Order) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_id=str(order.pk), action__contains=".")
        .values_list("action", flat=True)
        .order_by("pk")
    )


# --- defect 1: a member's cancel of a card-paid booking ------------------------------------------------


def test_a_member_cancel_before_the_deadline_is_refunded_in_full_automatically(
    stripe_api, client, django_capture_on_commit_callbacks
):
    # given a paid 2,000-yen card booking and the default policy (refund in full automatically)
    member, reservation, order = paid_card_booking(stripe_api)
    assert PaymentSettings.current().refund_policy == PaymentSettings.RefundPolicy.AUTOMATIC
    # when the member cancels before the deadline
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
    # then the whole payment goes back through Stripe, once, with our refund's key and id
    refund = Refund.objects.get(order=order)
    [sent] = stripe_api.refund_requests()
    assert sent["form"] == {
        "payment_intent": "pi_paid", "amount": "2000",
        "metadata[refund_id]": str(refund.pk), "metadata[order_id]": str(order.pk),
    }  # fmt: skip
    assert sent["idempotency_key"] == f"refund-{refund.pk}"
    assert (refund.state, refund.source, refund.amount_yen, refund.created_by) == (
        Refund.State.SUCCEEDED, Refund.Source.MEMBER_CANCEL, 2000, member,
    )  # fmt: skip
    assert stripe_api.refunded("pi_paid") == 2000
    # and the order is cancelled with its money back, the booking cancelled, nobody flagged
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen, order.refund_needed) == (Order.Status.CANCELLED, 2000, False)
    assert reservation.status == Reservation.Status.CANCELLED
    assert {"order.cancelled", "order.refund_requested", "refund.succeeded"} <= set(actions(order))
    # and the member sees it on the order page
    client.force_login(member)
    with translation.override("en"):
        page = client.get(reverse("payments:order_detail", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert refund in page.context["refunds"]


def test_with_the_staff_decide_policy_the_order_is_flagged_and_stripe_is_not_called(
    stripe_api, client, django_capture_on_commit_callbacks
):
    # given a paid card booking and the policy "staff decide"
    member, reservation, order = paid_card_booking(stripe_api)
    set_refund_policy(PaymentSettings.RefundPolicy.STAFF_DECIDES)
    # when the member cancels
    with django_capture_on_commit_callbacks(execute=True):
        reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
    # then nothing is sent, the order is flagged 要返金 and cancelled, the booking cancelled
    assert stripe_api.refund_requests() == []
    assert not Refund.objects.exists()
    order.refresh_from_db()
    assert (order.status, order.refund_needed, order.refunded_yen) == (Order.Status.CANCELLED, True, 0)
    assert "order.refund_needed" in actions(order)
    # and the member is told the shop will contact them
    client.force_login(member)
    page = client.get(reverse("payments:order_detail", args=[order.pk]))
    assert b'class="refund-needed"' in page.content
    # and staff read on the booking that a refund is theirs to decide
    with translation.override("en"):
        note = CardPayment().money_note(reservation=reservation, for_staff=True)
    assert note.text.startswith("Refund needed (要返金)")
    assert note.admin_url == reverse("admin:payments_order_change", args=[order.pk])


def test_staff_refunding_a_flagged_order_clears_the_flag(stripe_api, admin_client, admin_user):
    member, reservation, order = paid_card_booking(stripe_api)
    set_refund_policy(PaymentSettings.RefundPolicy.STAFF_DECIDES)
    reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
    # the flagged order is listed for staff
    listed = admin_client.get(reverse("admin:payments_order_changelist"), {"refund_needed__exact": "1"})
    assert [each.pk for each in listed.context["cl"].result_list] == [order.pk]
    # when staff refund 1,500 yen of it
    response = admin_client.post(
        reverse("admin:payments_order_refund", args=[order.pk]),
        {"amount_yen": "1500", "reason": "規定により"},
    )
    # then it is refunded and no longer flagged
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.refund_needed, order.refunded_yen) == (False, 1500)
    assert AuditEntry.objects.filter(action="order.refund_needed_cleared", actor=admin_user).count() == 1


def test_staff_can_decide_no_refund_for_a_flagged_order(stripe_api, admin_client, admin_user):
    member, reservation, order = paid_card_booking(stripe_api)
    set_refund_policy(PaymentSettings.RefundPolicy.STAFF_DECIDES)
    reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
    url = reverse("admin:payments_order_operate", args=[order.pk, "no_refund"])
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"confirm": "yes", "note": "当日キャンセル規定"})
    order.refresh_from_db()
    assert order.refund_needed is False
    entry = AuditEntry.objects.get(action="order.refund_needed_cleared")
    assert (entry.actor, entry.payload["decision"], entry.payload["note"]) == (
        admin_user,
        "no_refund",
        "当日キャンセル規定",
    )
    assert stripe_api.refund_requests() == []


def test_staff_cancel_asks_how_much_and_refunds_that_part(
    stripe_api, admin_client, admin_user, django_capture_on_commit_callbacks
):
    # given a paid 2,000-yen card booking
    _member, reservation, order = paid_card_booking(stripe_api)
    url = reverse("admin:inventory_reservation_operate", args=[reservation.pk, "cancel"])
    # the confirmation page asks about the refund, the full refundable amount by default
    asked = admin_client.get(url)
    assert asked.context["form"].fields["refund_yen"].initial == 2000
    # when staff cancel refunding 500 yen
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"confirm": "yes", "reason": "設備点検", "refund_yen": "500"})
    # then 500 yen goes back, the booking and order are cancelled
    refund = Refund.objects.get()
    assert (refund.state, refund.source, refund.amount_yen, refund.created_by) == (
        Refund.State.SUCCEEDED, Refund.Source.STAFF, 500, admin_user,
    )  # fmt: skip
    assert [r["form"]["amount"] for r in stripe_api.refund_requests()] == ["500"]
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.CANCELLED, 500)
    assert reservation.status == Reservation.Status.CANCELLED
    # and the reservation's admin page says so, with the order's admin link
    page = admin_client.get(reverse("admin:inventory_reservation_change", args=[reservation.pk]))
    assert reverse("admin:payments_order_change", args=[order.pk]) in page.content.decode()


def test_staff_cancel_keeping_the_money_refunds_nothing(stripe_api, admin_client):
    _member, reservation, order = paid_card_booking(stripe_api)
    url = reverse("admin:inventory_reservation_operate", args=[reservation.pk, "cancel"])
    admin_client.post(url, {"confirm": "yes", "reason": "無断", "refund_yen": "0"})
    reservation.refresh_from_db()
    order.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert (order.status, order.refunded_yen, order.refund_needed) == (Order.Status.CANCELLED, 0, False)
    assert stripe_api.refund_requests() == []


def test_an_unpaid_booking_cancel_asks_nothing_about_money(stripe_api, admin_client):
    from inventory.services import reservation_create
    from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
    from payments.tests.money import MONDAY

    ReservationSettingsFactory()
    member = MemberFactory()
    reservation = reservation_create(
        member=member, by=member, item=ItemFactory(units=[(60, 1000)], stock=1),
        starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"), payment_method="card", now=NOW,
    )  # fmt: skip
    asked = admin_client.get(reverse("admin:inventory_reservation_operate", args=[reservation.pk, "cancel"]))
    assert "refund_yen" not in asked.context["form"].fields


def test_staff_cancel_of_an_order_asks_how_much_too(
    stripe_api, admin_client, django_capture_on_commit_callbacks
):
    _member, reservation, order = paid_card_booking(stripe_api)
    url = reverse("admin:payments_order_operate", args=[order.pk, "cancel"])
    assert admin_client.get(url).context["form"].fields["refund_yen"].initial == 2000
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"confirm": "yes", "reason": "", "refund_yen": "2000"})
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.CANCELLED, 2000)
    assert reservation.status == Reservation.Status.CANCELLED
    assert Refund.objects.get().state == Refund.State.SUCCEEDED


# --- defect 2: a refund made in Stripe's dashboard ------------------------------------------------------


def _ticket_order(stripe_api):
    from tickets.models import MemberTicket
    from tickets.services import ticket_purchase_start
    from tickets.tests.factories import TicketTypeFactory

    member = MemberFactory()
    trial = TicketTypeFactory(paid_trial=True)
    order = ticket_purchase_start(member=member, ticket_type=trial, by=member, now=NOW)
    order = pay_by_card(stripe_api, order, "pi_ticket")
    ticket = MemberTicket.objects.get(order_line__order=order)
    assert ticket.status == MemberTicket.Status.ACTIVE
    return order, ticket


@pytest.mark.parametrize("who", ["staff", "dashboard"])
def test_a_full_refund_revokes_the_ticket_whoever_makes_it(stripe_api, who):
    from tickets.models import MemberTicket, TicketEntry

    # given a paid ticket
    order, ticket = _ticket_order(stripe_api)
    # when the whole payment is refunded by staff, or in Stripe's dashboard (then the webhook arrives)
    if who == "staff":
        refund = order_refund(
            order=order, amount_yen=order.total_yen, reason="返金", by=MemberFactory(is_staff=True)
        )
        assert refund.state == Refund.State.SUCCEEDED
    else:
        stripe_api.refund_in_dashboard("pi_ticket", order.total_yen)
        payload = charge_refunded(order, "pi_ticket", order.total_yen, event_id="evt_dash")
        assert post(Client(), payload, sign(payload)).status_code == 200
        refund = Refund.objects.get(order=order)
        assert (refund.state, refund.source) == (Refund.State.EXTERNAL, Refund.Source.DASHBOARD)
        assert refund.stripe_refund_id == stripe_api.refunds[0]["id"]
    # then the same happens: the order is refunded, the ticket taken back once
    order.refresh_from_db()
    ticket.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.REFUNDED, order.total_yen)
    assert ticket.status == MemberTicket.Status.REVOKED
    assert ticket.entries.filter(kind=TicketEntry.Kind.REVOKED).count() == 1
    assert actions(order).count("order.refunded") == 1
    assert stripe_api.refunded("pi_ticket") == order.total_yen


def test_a_dashboard_refund_cancels_the_booking_and_is_recorded_once(stripe_api):
    # given a paid card booking refunded in full in the dashboard
    _member, reservation, order = paid_card_booking(stripe_api)
    made = stripe_api.refund_in_dashboard("pi_paid", 2000)
    # when the webhook arrives twice (two events), the second without the refunds list
    first = charge_refunded(order, "pi_paid", 2000, event_id="evt_a", refunds=[made])
    second = charge_refunded(order, "pi_paid", 2000, event_id="evt_b")
    for payload in (first, second):
        assert post(Client(), payload, sign(payload)).status_code == 200
    # then one external refund, the booking cancelled, the order refunded
    [refund] = Refund.objects.filter(order=order)
    assert (refund.state, refund.amount_yen, refund.stripe_refund_id) == (
        Refund.State.EXTERNAL,
        2000,
        made["id"],
    )
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.REFUNDED, 2000)
    assert reservation.status == Reservation.Status.CANCELLED
    assert AuditEntry.objects.get(action="refund.external").system == "stripe_webhook"


def test_a_partial_dashboard_refund_records_the_money_only(stripe_api):
    _member, reservation, order = paid_card_booking(stripe_api)
    stripe_api.refund_in_dashboard("pi_paid", 500)
    payload = charge_refunded(order, "pi_paid", 500, event_id="evt_part")
    post(Client(), payload, sign(payload))
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.PARTIALLY_CANCELLED, 500)
    assert reservation.status == Reservation.Status.CONFIRMED


def test_the_webhook_settles_our_own_refund_by_its_metadata(stripe_api):
    # given our refund, sent, whose answer we have not recorded yet (the webhook comes first)
    _member, _reservation, order = paid_card_booking(stripe_api)
    refund = refund_request(order=order, amount_yen=800, reason="一部", by=MemberFactory(is_staff=True))
    made = stripe_api._refund(payment_intent="pi_paid", amount=800, metadata={"refund_id": str(refund.pk)})[1]
    # when charge.refunded arrives
    payload = charge_refunded(order, "pi_paid", 800, event_id="evt_ours", refunds=[made])
    post(Client(), payload, sign(payload))
    # then our row succeeded with Stripe's id, and no external refund was invented
    refund.refresh_from_db()
    assert (refund.state, refund.stripe_refund_id) == (Refund.State.SUCCEEDED, made["id"])
    assert Refund.objects.count() == 1
    # and our own call, when it runs, sends nothing twice
    refund_execute(refund=refund)
    assert stripe_api.refund_requests() == []


def test_our_refund_after_a_full_dashboard_refund_is_superseded(stripe_api):
    # given a payment refunded in full in the dashboard, whose webhook has not arrived
    _member, _reservation, order = paid_card_booking(stripe_api)
    made = stripe_api.refund_in_dashboard("pi_paid", 2000)
    # when staff refund it too
    refund = order_refund(order=order, amount_yen=2000, reason="返金", by=MemberFactory(is_staff=True))
    # then Stripe refuses (charge_already_refunded): ours is superseded, the dashboard's recorded
    assert refund.state == Refund.State.SUPERSEDED
    assert "already been refunded" in refund.error
    external = Refund.objects.get(state=Refund.State.EXTERNAL)
    assert external.stripe_refund_id == made["id"]
    assert stripe_api.refunded("pi_paid") == 2000
    order.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.REFUNDED, 2000)


def test_more_than_what_is_left_is_refused_counting_open_refunds(stripe_api):
    _member, _reservation, order = paid_card_booking(stripe_api)
    staff = MemberFactory(is_staff=True)
    refund_request(order=order, amount_yen=1500, reason="a", by=staff)  # created, not sent yet
    with pytest.raises(OrderError, match="500"):
        refund_request(order=order, amount_yen=501, reason="b", by=staff)
