"""Stripe webhooks with payloads signed the way Stripe signs them (HMAC-SHA256 of "t.payload")."""

import hashlib
import hmac
import json
import threading
import time
from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import translation

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, Refund, StripeEvent
from payments.reservations import order_for_reservation

SECRET = "whsec_test_" + "s" * 24
MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def ja(text: str) -> str:
    with translation.override("ja"):
        return translation.gettext(text)


def sign(payload: str, *, secret: str = SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def event(event_type: str, obj: dict, *, event_id: str = "evt_1") -> str:
    return json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "created": 1780000000, "livemode": False,
         "data": {"object": obj}}
    )  # fmt: skip


def post(client, payload: str, signature: str):
    return client.post(
        reverse("payments:stripe_webhook"),
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


def card_booking():
    ReservationSettingsFactory()
    item = ItemFactory(units=[(60, 1000)], stock=1)
    reservation = reservation_create(
        member=(booker := MemberFactory()), by=booker, item=item, starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        payment_method="card", now=NOW,
    )  # fmt: skip
    return reservation, order_for_reservation(reservation)


def session_completed(order, **extra) -> dict:
    return {
        "id": "cs_test_1", "object": "checkout.session", "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)}, "payment_status": "paid", "amount_total": order.total_yen,
        "currency": "jpy", "payment_intent": "pi_test_1", **extra,
    }  # fmt: skip


@pytest.mark.django_db
def test_a_valid_completed_checkout_marks_the_order_paid_and_confirms_the_booking(client):
    # given
    reservation, order = card_booking()
    payload = event("checkout.session.completed", session_completed(order))
    # when
    response = post(client, payload, sign(payload))
    # then
    assert response.status_code == 200
    assert response.json()["processed"] is True
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.stripe_payment_intent_id == "pi_test_1"
    assert reservation.status == Reservation.Status.CONFIRMED
    assert StripeEvent.objects.get().result == "paid"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda p: sign(p, secret="whsec_wrong"), id="wrong secret"),
        pytest.param(lambda p: sign(p + " "), id="signed a different body"),
        pytest.param(lambda p: sign(p, timestamp=int(time.time()) - 301), id="stale timestamp"),
        pytest.param(lambda p: "", id="no signature"),
    ],
)
def test_a_rejected_webhook_changes_nothing(client, signature):
    _reservation, order = card_booking()
    payload = event("checkout.session.completed", session_completed(order))
    response = post(client, payload, signature(payload))
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_the_same_event_twice_acts_once(client):
    _reservation, order = card_booking()
    payload = event("checkout.session.completed", session_completed(order))
    assert post(client, payload, sign(payload)).json()["processed"] is True
    again = post(client, payload, sign(payload))
    assert again.status_code == 200
    assert again.json() == {"received": True, "processed": False, "result": "duplicate"}
    assert StripeEvent.objects.count() == 1


@pytest.mark.django_db
def test_an_amount_that_does_not_match_the_order_is_not_paid(client):
    _reservation, order = card_booking()
    payload = event("checkout.session.completed", session_completed(order, amount_total=1))
    post(client, payload, sign(payload))
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert "does not match" in StripeEvent.objects.get().result


@pytest.mark.django_db
def test_out_of_order_refund_events_never_lower_the_refunded_total(client):
    # given a paid order of 2,000 yen refunded in two steps, whose events arrive newest first
    _reservation, order = card_booking()
    paid = event("checkout.session.completed", session_completed(order), event_id="evt_paid")
    post(client, paid, sign(paid))
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_test_1",
        "metadata": {"order_id": str(order.pk)},
    }
    second = event("charge.refunded", {**charge, "amount_refunded": 2000}, event_id="evt_refund_2")
    first = event("charge.refunded", {**charge, "amount_refunded": 500}, event_id="evt_refund_1")
    # when
    post(client, second, sign(second))
    post(client, first, sign(first))
    # then the order stays fully refunded
    order.refresh_from_db()
    assert order.refunded_yen == 2000
    assert order.status == Order.Status.REFUNDED


@pytest.mark.django_db
def test_a_payment_failure_is_recorded_and_the_order_stays_payable(client):
    _reservation, order = card_booking()
    failed = event("payment_intent.payment_failed", {"id": "pi_x", "metadata": {"order_id": str(order.pk)}})
    assert post(client, failed, sign(failed)).status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert StripeEvent.objects.get().order == order


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["invoice.paid", "invoice.payment_failed", "customer.subscription.deleted"])
def test_subscription_events_are_recorded(client, kind):
    payload = event(kind, {"id": "in_1", "object": "invoice"}, event_id=f"evt_{kind}")
    assert post(client, payload, sign(payload)).status_code == 200
    assert StripeEvent.objects.get().type == kind


@pytest.mark.django_db(transaction=True)
def test_the_same_event_ten_times_at_once_has_exactly_one_effect():
    # given
    reservation, order = card_booking()
    payload = event("checkout.session.completed", session_completed(order))
    signature = sign(payload)
    barrier = threading.Barrier(10)
    results = []

    def deliver():
        try:
            barrier.wait()
            results.append(post(Client(), payload, signature).json()["processed"])
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then
    assert sorted(results) == [False] * 9 + [True]
    assert StripeEvent.objects.count() == 1
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert reservation.status == Reservation.Status.CONFIRMED


@pytest.mark.django_db(transaction=True)
def test_a_payment_for_a_released_booking_is_refunded_at_once_and_not_retried(
    client, stripe_api, celery_worker
):
    # given a card booking released because it was not paid in time
    from inventory.services import release_unpaid_reservations

    reservation, order = card_booking()
    release_unpaid_reservations(now=NOW.replace(hour=23))
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    # when Stripe reports the payment after all, twice (two events for the same payment)
    for event_id in ("evt_1", "evt_2"):
        payload = event("checkout.session.completed", session_completed(order), event_id=event_id)
        response = post(client, payload, sign(payload))
        assert response.status_code == 200  # Stripe stops retrying
    # then the whole payment went back once, through Stripe, recorded on the order (the second event finds
    # the payment recorded and asks for nothing)
    order.refresh_from_db()
    refund = order.refunds.get()
    refunds = stripe_api.refund_requests()
    expected = {
        "payment_intent": "pi_test_1",
        "amount": str(order.total_yen),
        "metadata[refund_id]": str(refund.pk),
        "metadata[order_id]": str(order.pk),
    }
    assert [r["form"] for r in refunds] == [expected]
    assert {r["idempotency_key"] for r in refunds} == {f"refund-{refund.pk}"}
    assert (order.status, order.refunded_yen, refund.amount_yen) == (
        Order.Status.CANCELLED,
        order.total_yen,
        order.total_yen,
    )
    assert (refund.state, refund.source) == (Refund.State.SUCCEEDED, Refund.Source.UNCLAIMED)
    assert refund.stripe_refund_id.startswith("re_test_")
    assert "refunded" in StripeEvent.objects.get(event_id="evt_1").result
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    # and the worker e-mails the member the amount and why
    why = ja("the order had been cancelled before the payment arrived.")
    body = celery_worker.body(celery_worker.wait_for(order.member.email, body_contains=why))
    assert str(order.pk) in body
    assert f"¥{order.total_yen:,}" in body
