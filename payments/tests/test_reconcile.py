"""reconcile_payments: the beat task and the command settle payments and refunds left open."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, Payment, Refund
from payments.reservations import order_for_reservation
from payments.services import reconcile_payments, refund_execute, refund_request
from payments.tasks import reconcile_payments_task
from payments.tests.money import MONDAY, NOW, paid_card_booking
from payments.tests.test_webhooks import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def later() -> timezone.datetime:
    return timezone.now() + timedelta(minutes=10)


def _checkout_opened(client, stripe_api) -> tuple[Order, Payment]:
    """A member booked by card and opened Stripe Checkout; no webhook followed."""
    ReservationSettingsFactory()
    member = MemberFactory()
    reservation = reservation_create(
        member=member, by=member, item=ItemFactory(units=[(60, 1000)], stock=1),
        starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "11:00"), payment_method="card", now=NOW,
    )  # fmt: skip
    order = order_for_reservation(reservation)
    client.force_login(member)
    client.get(reverse("payments:checkout", args=[order.pk]))
    payment = Payment.objects.get(order=order)
    assert (payment.state, payment.stripe_checkout_session_id) == (Payment.State.PENDING, "cs_test_1")
    return order, payment


def test_the_checkout_commits_a_payment_row_keyed_for_stripe(client, stripe_api):
    order, payment = _checkout_opened(client, stripe_api)
    [sent] = [r for r in stripe_api.requests if r["path"] == "/v1/checkout/sessions"]
    assert sent["idempotency_key"] == f"payment-{payment.pk}-checkout"
    assert sent["form"]["metadata[payment_id]"] == str(payment.pk)
    order.refresh_from_db()
    assert order.stripe_checkout_session_id == "cs_test_1"


def test_a_completed_session_whose_webhook_never_came_pays_the_order(client, stripe_api):
    order, payment = _checkout_opened(client, stripe_api)
    stripe_api.complete_session("cs_test_1", payment_intent="pi_lost")
    result = reconcile_payments(now=later())
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.state, payment.stripe_payment_intent_id) == (Payment.State.SUCCEEDED, "pi_lost")
    assert order.status == Order.Status.PAID
    assert Reservation.objects.get().status == Reservation.Status.CONFIRMED
    assert result.payments_succeeded == 1
    assert AuditEntry.objects.get(action="payment.succeeded").system == "reconcile_payments"


def test_a_completed_session_of_another_amount_is_never_paid_by_the_reconciler(client, stripe_api):
    # given a completed session that took another amount than the payment (the webhook refuses it too)
    order, payment = _checkout_opened(client, stripe_api)
    stripe_api.complete_session("cs_test_1", payment_intent="pi_odd")
    stripe_api.sessions["cs_test_1"]["amount_total"] = payment.amount_yen + 1
    # when the reconciler runs, then it leaves it open for staff: the order is not paid
    result = reconcile_payments(now=later())
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.state, order.status, result.payments_open) == (
        Payment.State.PENDING,
        Order.Status.PENDING,
        1,
    )


def test_an_expired_session_fails_the_payment_and_the_order_stays_payable(client, stripe_api):
    order, payment = _checkout_opened(client, stripe_api)
    stripe_api.sessions["cs_test_1"]["status"] = "expired"
    reconcile_payments(now=later())
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.state == Payment.State.FAILED
    assert order.status == Order.Status.PENDING


def test_an_open_session_and_young_rows_are_left_alone(client, stripe_api):
    _order, payment = _checkout_opened(client, stripe_api)
    assert reconcile_payments(now=timezone.now()).payments_seen == 0  # too young
    assert reconcile_payments(now=later()).payments_open == 1
    payment.refresh_from_db()
    assert payment.state == Payment.State.PENDING


def test_a_refund_stripe_never_answered_is_sent_again_with_the_same_key(stripe_api):
    # given a refund whose request never got an answer (the network failed every try)
    _member, _reservation, order = paid_card_booking(stripe_api)
    refund = refund_request(order=order, amount_yen=700, reason="一部", by=MemberFactory(is_staff=True))

    def network_down(form):
        raise ConnectionResetError

    stripe_api.before_refund = network_down
    refund = refund_execute(refund=refund)
    assert refund.state == Refund.State.PENDING
    assert stripe_api.refunds == []
    stripe_api.before_refund = None
    # when the reconciler runs
    result = reconcile_payments(now=later())
    # then it looked first, found nothing, and sent it once with the same key and metadata
    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED
    assert [each["metadata"]["refund_id"] for each in stripe_api.refunds] == [str(refund.pk)]
    assert {r["idempotency_key"] for r in stripe_api.refund_requests()} == {f"refund-{refund.pk}"}
    assert (result.refunds_seen, result.refunds_sent, result.refunds_open) == (1, 1, 0)
    entry = AuditEntry.objects.get(action="payments.reconciled")
    assert (entry.system, entry.payload["refunds_sent"]) == ("reconcile_payments", 1)


def test_a_dry_run_changes_nothing(stripe_api):
    _member, _reservation, order = paid_card_booking(stripe_api)
    refund_request(order=order, amount_yen=700, reason="一部", by=MemberFactory(is_staff=True))
    result = reconcile_payments(now=later(), dry_run=True)
    assert result.refunds_seen == 1
    assert Refund.objects.get().state == Refund.State.CREATED
    assert stripe_api.refund_requests() == []
    assert not AuditEntry.objects.filter(action="payments.reconciled").exists()


def test_the_command_and_the_task(stripe_api, capsys):
    _member, _reservation, order = paid_card_booking(stripe_api)
    refund_request(order=order, amount_yen=700, reason="一部", by=MemberFactory(is_staff=True))
    at = timezone.localtime(later()).strftime("%Y-%m-%dT%H:%M")
    call_command("reconcile_payments", "--dry-run", "--at", at)
    assert "Would look at 1 open refund(s)" in capsys.readouterr().out
    call_command("reconcile_payments", "--at", at)
    assert "1 sent again" in capsys.readouterr().out
    assert Refund.objects.get().state == Refund.State.SUCCEEDED
    assert reconcile_payments_task()["refunds_seen"] == 0


def test_the_beat_runs_it_every_ten_minutes(settings):
    entry = next(
        each
        for each in settings.CELERY_BEAT_SCHEDULE.values()
        if each["task"] == "payments.tasks.reconcile_payments"
    )
    assert entry["schedule"] == 600
