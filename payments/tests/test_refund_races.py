"""Refunds under real concurrency and a real crash (issue 10, defect 3): Stripe is never called while the
order is locked; a dashboard refund racing our own refund and its webhook ends with one refund; a process
killed between our commit and Stripe's answer is finished by the reconciler."""

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from conftest import ROOT, _test_database_url
from core.models import AuditEntry
from inventory.models import Reservation
from inventory.services import reservation_cancel
from members.tests.factories import MemberFactory
from payments.models import Order, Refund
from payments.services import reconcile_payments, refund_request
from payments.tests.money import LATER, charge_refunded, paid_card_booking
from payments.tests.test_webhooks import SECRET, post, sign


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def _lockable(order: Order, reservation: Reservation) -> str:
    """From another connection: can the order and its booking be locked right now (NOWAIT)?"""
    try:
        with transaction.atomic():
            Order.objects.select_for_update(nowait=True).get(pk=order.pk)
            Reservation.objects.select_for_update(nowait=True, of=("self",)).get(pk=reservation.pk)
        return "free"
    except DatabaseError:
        return "locked"
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_stripe_is_called_with_no_lock_on_the_order(stripe_api):
    # given a paid card booking (default policy: refund in full)
    member, reservation, order = paid_card_booking(stripe_api)
    seen = []
    stripe_api.before_refund = lambda form: seen.append(_lockable(order, reservation))
    # when the member cancels, which sends the refund after the commit
    reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
    # then while the refund request was at Stripe, another connection could lock the order and the booking
    assert seen == ["free"]
    assert Refund.objects.get().state == Refund.State.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_dashboard_refund_our_refund_and_the_webhook_at_once_end_with_one_refund(stripe_api):
    # given a paid card booking already refunded in full in Stripe's dashboard
    member, reservation, order = paid_card_booking(stripe_api)
    made = stripe_api.refund_in_dashboard("pi_paid", 2000)
    payload = charge_refunded(order, "pi_paid", 2000, event_id="evt_dashboard")
    signature = sign(payload)
    # the webhook is delivered the moment our own refund request reaches Stripe
    barrier = threading.Barrier(2)
    stripe_api.before_refund = lambda form: barrier.wait(30)
    outcomes = []

    def member_cancels():
        try:
            reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
            outcomes.append("cancelled")
        except Exception as error:
            outcomes.append(f"unexpected {error!r}")
        finally:
            connection.close()

    def webhook():
        try:
            barrier.wait(30)
            outcomes.append(post(Client(), payload, signature).status_code)
        except Exception as error:
            outcomes.append(f"unexpected {error!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=member_cancels), threading.Thread(target=webhook)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then exactly one refund exists at Stripe: the dashboard's
    assert sorted(map(str, outcomes)) == ["200", "cancelled"]
    assert [each["id"] for each in stripe_api.refunds] == [made["id"]]
    # our refund row is superseded, the dashboard's recorded once as external
    ours = Refund.objects.get(source=Refund.Source.MEMBER_CANCEL)
    assert ours.state == Refund.State.SUPERSEDED
    external = Refund.objects.get(state=Refund.State.EXTERNAL)
    assert (external.stripe_refund_id, external.amount_yen) == (made["id"], 2000)
    assert Refund.objects.count() == 2
    # and the order was undone once: cancelled with its money back, the booking cancelled once
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.CANCELLED, 2000)
    assert reservation.status == Reservation.Status.CANCELLED
    logged = list(AuditEntry.objects.filter(object_id=str(order.pk)).values_list("action", flat=True))
    assert (logged.count("order.cancelled"), logged.count("order.refunded")) == (1, 0)
    assert (logged.count("refund.external"), logged.count("refund.superseded")) == (1, 1)


def _execute_in_a_process(stripe_api, refund: Refund, log) -> subprocess.Popen:
    """refund_execute in its own `manage.py shell` process on the test database, against the double."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _test_database_url(),
        "STRIPE_SECRET_KEY": "sk_test_" + "k" * 24,
        "STRIPE_API_BASE": stripe_api.url,
    }
    code = (
        "from payments.models import Refund; from payments.services import refund_execute; "
        f"refund_execute(refund=Refund.objects.get(pk={refund.pk}))"
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reached_stripe", [True, False], ids=["stripe made it", "request lost"])
def test_a_process_killed_before_stripe_answers_is_finished_by_the_reconciler(
    stripe_api, reached_stripe, tmp_path
):
    # given a paid card booking, and staff's full refund of it committed (created), not sent yet
    _member, reservation, order = paid_card_booking(stripe_api)
    refund = refund_request(order=order, amount_yen=2000, reason="全額返金", by=MemberFactory(is_staff=True))
    # and a process sending it, which Stripe holds before answering (with or without making the refund)
    arrived, release = threading.Event(), threading.Event()

    def hold(*args):
        arrived.set()
        release.wait(60)
        if not reached_stripe:
            raise ConnectionAbortedError("the request never reached Stripe")

    if reached_stripe:
        stripe_api.after_refund = hold
    else:
        stripe_api.before_refund = hold
    log_path = tmp_path / "process.log"
    with log_path.open("w") as log:
        process = _execute_in_a_process(stripe_api, refund, log)
    try:
        assert arrived.wait(60), log_path.read_text()
        # when the process dies (kill -9) before Stripe's answer
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
    refund.refresh_from_db()
    assert refund.state == Refund.State.PENDING
    stripe_api.before_refund = stripe_api.after_refund = None
    # and the reconciler runs a few minutes later
    result = reconcile_payments(now=timezone.now() + timedelta(minutes=10))
    # then exactly one refund exists at Stripe, ours, recorded as succeeded; the order refunded
    assert len(stripe_api.refunds) == 1
    assert stripe_api.refunds[0]["metadata"] == {"refund_id": str(refund.pk), "order_id": str(order.pk)}
    refund.refresh_from_db()
    assert (refund.state, refund.stripe_refund_id) == (Refund.State.SUCCEEDED, stripe_api.refunds[0]["id"])
    order.refresh_from_db()
    reservation.refresh_from_db()
    assert (order.status, order.refunded_yen) == (Order.Status.REFUNDED, 2000)
    assert reservation.status == Reservation.Status.CANCELLED
    assert (result.refunds_settled, result.refunds_sent) == ((1, 0) if reached_stripe else (0, 1))
    # a second run finds nothing left to do
    again = reconcile_payments(now=timezone.now() + timedelta(minutes=20))
    assert (again.refunds_seen, len(stripe_api.refunds)) == (0, 1)
