"""The reconciler (beat every 10 minutes, and `manage.py reconcile_payments`): money movements left
created or pending — the process died between our commit and Stripe's answer, Stripe did not answer, a
webhook never came — are settled against what Stripe says.

Refunds: the payment's refunds are listed at Stripe first. Ours is found by the refund_id in its metadata
(Stripe forgets idempotency keys after 24 hours, so a refund is never found by sending it again) and its
outcome recorded; a refund we do not know is recorded as external. Only a refund Stripe does not have is
sent again — with the same idempotency key and metadata; if the charge is refunded already, ours is
superseded.

Payments: a pending Checkout Session is retrieved; complete and paid → the payment succeeds and the order
is paid; expired → the payment failed (the order stays payable). A payment that never reached Stripe is
given up after a day (any session it might have had has expired by then)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import stripe
from django.db import transaction
from django.utils import timezone

from core.audit import audit_log
from payments import stripe_api
from payments.models import Payment, Refund
from payments.services.checkout import payment_failed, payment_succeeded
from payments.services.refunds import _target, refund_execute, refunds_record_from_stripe

logger = logging.getLogger(__name__)

SYSTEM = "reconcile_payments"
# Younger rows are left alone: their own call or the webhook is most likely still on its way.
SETTLE_AFTER = timedelta(minutes=5)
# Stripe's Checkout Sessions expire within 24 hours: a payment with no session by then never will have one.
GIVE_UP_CREATED_PAYMENT_AFTER = timedelta(hours=25)


@dataclass
class ReconcileResult:
    refunds_seen: int = 0
    refunds_settled: int = 0  # found at Stripe (by id or metadata) or recorded without a provider
    refunds_sent: int = 0  # not at Stripe: sent again with the same key
    refunds_open: int = 0  # still created / pending afterwards (Stripe unreachable, or still processing)
    payments_seen: int = 0
    payments_succeeded: int = 0
    payments_failed: int = 0
    payments_open: int = 0


def reconcile_payments(*, now: datetime | None = None, dry_run: bool = False) -> ReconcileResult:
    """Settle the refunds and payments left open for more than a few minutes. Each row is its own short
    transaction (one failure keeps the others), Stripe is called outside all of them. A dry run counts
    what it would look at and changes nothing. Writes one audit entry for the run."""
    now = now or timezone.now()
    result = ReconcileResult()
    refunds = Refund.objects.filter(state__in=Refund.OPEN_STATES, updated_at__lt=now - SETTLE_AFTER)
    payments = Payment.objects.filter(
        provider=Payment.Provider.STRIPE,
        state__in=(Payment.State.CREATED, Payment.State.PENDING),
        updated_at__lt=now - SETTLE_AFTER,
    )
    if dry_run:
        result.refunds_seen = result.refunds_open = refunds.count()
        result.payments_seen = result.payments_open = payments.count()
        return result
    for refund in refunds.select_related("order", "payment").order_by("pk"):
        result.refunds_seen += 1
        try:
            _settle_refund(refund, result, now)
        except Exception:  # one row's trouble never stops the run; it stays open for the next
            logger.exception("reconcile_payments: refund #%s", refund.pk)
        refund.refresh_from_db()
        result.refunds_open += refund.state in Refund.OPEN_STATES
    for payment in payments.select_related("order").order_by("pk"):
        result.payments_seen += 1
        try:
            _settle_payment(payment, result, now)
        except Exception:
            logger.exception("reconcile_payments: payment #%s", payment.pk)
    with transaction.atomic(durable=True):
        audit_log(
            action="payments.reconciled", obj=None, by=None, system=SYSTEM, payload=asdict(result), now=now
        )
    return result


def _settle_refund(refund: Refund, result: ReconcileResult, now: datetime) -> None:
    intent = _target(refund)
    if not intent:  # nothing to ask a provider: recorded at once
        refund_execute(refund=refund, system=SYSTEM, now=now)
        result.refunds_settled += 1
        return
    try:
        at_stripe = stripe_api.refunds_list(payment_intent=intent)
    except stripe.StripeError as error:
        logger.warning("reconcile_payments: cannot list the refunds of %s: %s", intent, error)
        return
    with transaction.atomic(durable=True):
        refunds_record_from_stripe(order=refund.order, stripe_refunds=at_stripe, system=SYSTEM, now=now)
    mine = [
        each
        for each in at_stripe
        if each.get("id") == refund.stripe_refund_id
        or str((each.get("metadata") or {}).get("refund_id") or "") == str(refund.pk)
    ]
    if mine:
        result.refunds_settled += 1
        return
    # Stripe has no such refund: the call never reached it. Send it (same key, same metadata).
    refund_execute(refund=refund, system=SYSTEM, now=now)
    result.refunds_sent += 1


def _settle_payment(payment: Payment, result: ReconcileResult, now: datetime) -> None:
    if not payment.stripe_checkout_session_id:
        if payment.created_at < now - GIVE_UP_CREATED_PAYMENT_AFTER:
            with transaction.atomic(durable=True):
                payment_failed(payment=payment, error="no Checkout Session was made", system=SYSTEM, now=now)
            result.payments_failed += 1
        else:
            result.payments_open += 1
        return
    try:
        session = stripe_api.checkout_session_retrieve(payment.stripe_checkout_session_id)
    except stripe.StripeError as error:
        logger.warning(
            "reconcile_payments: cannot retrieve %s: %s", payment.stripe_checkout_session_id, error
        )
        result.payments_open += 1
        return
    amount = session.get("amount_total")
    if amount is not None and amount != payment.amount_yen:
        # The webhook refuses such a session too: someone must look at it, the reconciler never pays it.
        logger.warning(
            "reconcile_payments: session %s took %s yen, payment #%s is %s yen: left for staff",
            payment.stripe_checkout_session_id, amount, payment.pk, payment.amount_yen,
        )  # fmt: skip
        result.payments_open += 1
        return
    if session.get("status") == "complete" and session.get("payment_status") in (
        "paid",
        "no_payment_required",
    ):
        with transaction.atomic(durable=True):
            payment_succeeded(
                payment=payment,
                system=SYSTEM,
                stripe_payment_intent_id=session.get("payment_intent") or "",
                now=now,
            )
        # An unclaimed payment's refund (the order could not take the money) is sent now, outside.
        for refund in payment.refunds.filter(state=Refund.State.CREATED):
            refund_execute(refund=refund, system=SYSTEM, now=now)
        result.payments_succeeded += 1
    elif session.get("status") == "expired":
        with transaction.atomic(durable=True):
            payment_failed(payment=payment, error="Checkout Session expired", system=SYSTEM, now=now)
        result.payments_failed += 1
    else:
        result.payments_open += 1
