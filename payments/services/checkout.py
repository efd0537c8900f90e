"""Money coming in: a Payment row before the provider is called (ARCHITECTURE.md "Money movements have
states").

    order_checkout_start   short transaction: a Payment (created) for the pending order, committed; then
                           Stripe Checkout with the payment's idempotency key; then a second short
                           transaction records the session (pending). The test gateway takes the same
                           path without Stripe.
    payment_succeeded      the money arrived (Stripe's webhook, the reconciler, the test gateway): the
                           payment succeeded and the order paid in one transaction, once. Money the order
                           cannot take is refunded whole (an unclaimed payment).
    payment_failed         the session expired or the test gateway's "fail" button.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from core.audit import audit_log
from core.exceptions import DomainError
from payments import registry, stripe_api
from payments.exceptions import OrderError
from payments.gateway import using_test_gateway
from payments.models import Order, Payment, Refund
from payments.services.orders import actor, order_cancel, order_check_payable, order_lock, order_mark_paid
from payments.services.refunds import _order_after_refund, order_refund_unclaimed_payment, refund_execute

logger = logging.getLogger(__name__)

OPEN_STATES = (Payment.State.CREATED, Payment.State.PENDING)


@dataclass(frozen=True)
class CheckoutStart:
    payment: Payment
    url: str | None  # Stripe Checkout's page; None for the test gateway (our own page)


def order_checkout_start(
    *, order: Order, by, success_url: str = "", cancel_url: str = "", now: datetime | None = None
) -> CheckoutStart:
    """Start paying a pending order by card. Opening the payment page again reuses the open payment (and
    so Stripe's session). Stripe is called between two short transactions, never under a lock."""
    now = now or timezone.now()
    provider = Payment.Provider.TEST_GATEWAY if using_test_gateway() else Payment.Provider.STRIPE
    payment = _payment_open(order=order, provider=provider, by=by, now=now)
    if provider == Payment.Provider.TEST_GATEWAY:
        return CheckoutStart(payment=payment, url=None)
    session = stripe_api.checkout_session_create(
        order=payment.order, payment=payment, success_url=success_url, cancel_url=cancel_url, now=now
    )
    payment = payment_record_session(payment=payment, session_id=session.id, by=by, now=now)
    return CheckoutStart(payment=payment, url=session.url)


def nothing_to_pay(order: Order, *, now: datetime | None = None) -> bool:
    """Whether `order` is paid without a card: 0 yen, and nothing recurring. A plan's first order that a
    coupon or points brought to 0 yen still goes through the card checkout, which sets up the monthly
    payment (registry.subscription_for); confirmed free, the plan would start with nothing to bill it."""
    return order.total_yen == 0 and registry.subscription_for(order=order, now=now or timezone.now()) is None


@transaction.atomic
def order_confirm_free(*, order: Order, by, now: datetime | None = None) -> Order:
    """A pending order that discounts and points brought to 0 yen has nothing to pay by card: it is paid
    without a payment (its method stays what the member chose), which fulfils it. Where a checkout would
    start for it (a card booking approved by the shop, an e-mailed payment link)."""
    now = now or timezone.now()
    order = order_lock(order)
    if order.status != Order.Status.PENDING or not nothing_to_pay(order, now=now):
        raise OrderError(gettext("This order has something to pay; pay it by card."))
    order_check_payable(order=order, now=now)
    return order_mark_paid(order=order, by=by, now=now, system="free_checkout")


@transaction.atomic
def _payment_open(*, order: Order, provider: str, by, now: datetime) -> Payment:
    order = order_lock(order)
    if order.status != Order.Status.PENDING:
        raise OrderError(
            gettext("This order is already %(status)s.") % {"status": order.get_status_display()}
        )
    order_check_payable(order=order, now=now)
    payment = (
        order.payments.filter(provider=provider, state__in=OPEN_STATES, amount_yen=order.total_yen)
        .order_by("-pk")
        .first()
    )
    if payment is not None:
        return payment
    payment = Payment.objects.create(order=order, provider=provider, amount_yen=order.total_yen)
    audit_log(
        action="payment.created",
        obj=order,
        payload={"payment": payment.pk, "provider": provider, "amount_yen": payment.amount_yen},
        now=now,
        **actor(by),
    )
    return payment


@transaction.atomic
def payment_record_session(
    *, payment: Payment, session_id: str, by=None, now: datetime | None = None
) -> Payment:
    """Stripe made the Checkout Session: the payment is pending (the member is paying)."""
    now = now or timezone.now()
    order = order_lock(payment.order_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.stripe_checkout_session_id != session_id:
        payment.stripe_checkout_session_id = session_id
        payment.save(update_fields=["stripe_checkout_session_id", "updated_at"])
        # The order keeps its latest session too: a counter payment closes it (counter_payment_receive).
        Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id=session_id)
    if payment.state == Payment.State.CREATED:
        payment.state = Payment.State.PENDING
        payment.save(update_fields=["state", "updated_at"])
        audit_log(
            action="payment.pending",
            obj=order,
            payload={"payment": payment.pk, "session": session_id},
            now=now,
            **actor(by),
        )
    return payment


def payment_for_checkout_session(*, order: Order, session: dict) -> Payment:
    """The Payment a completed Checkout Session pays: named in its metadata, or found by the session id.
    A session made before payments had rows gets one now (under the order's lock, so twice is once)."""
    metadata = session.get("metadata") or {}
    reference = str(metadata.get("payment_id") or "")
    if reference.isdigit():
        found = Payment.objects.filter(pk=int(reference), order=order).first()
        if found is not None:
            return found
    with transaction.atomic():
        order = order_lock(order)
        found = Payment.objects.filter(
            order=order, stripe_checkout_session_id=session.get("id") or ""
        ).first()
        if found is not None:
            return found
        return Payment.objects.create(
            order=order,
            provider=Payment.Provider.STRIPE,
            state=Payment.State.PENDING,
            amount_yen=order.total_yen,  # what the order asked for; the handler compares Stripe's amount
            stripe_checkout_session_id=session.get("id") or "",
        )


@transaction.atomic
def payment_succeeded(
    *,
    payment: Payment,
    by=None,
    system: str = "",
    stripe_payment_intent_id: str = "",
    now: datetime | None = None,
) -> tuple[Payment, str]:
    """The money arrived. The payment succeeds and the order is paid (fulfilled) in this transaction;
    twice is once. Returns (payment, what happened).

    Money that the order cannot take goes straight back, whole: the order was cancelled before the money
    arrived (an unpaid booking released), what it pays for can no longer be delivered (fulfilment
    refused), or another payment paid it already. The refund is requested here; the caller sends it
    after the commit (refund_execute)."""
    now = now or timezone.now()
    order = order_lock(payment.order_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.state == Payment.State.SUCCEEDED or (
        payment.state == Payment.State.CANCELLED and payment.refunds.exists()
    ):
        return payment, "already recorded"
    if stripe_payment_intent_id:
        payment.stripe_payment_intent_id = stripe_payment_intent_id
        if not order.stripe_payment_intent_id:
            order.stripe_payment_intent_id = stripe_payment_intent_id
            order.save(update_fields=["stripe_payment_intent_id", "updated_at"])
    # Paid already (by another payment, or at the counter): this money is given back, and the payment is
    # recorded as cancelled (one succeeded payment per order).
    paid_already = (
        order.status in Order.PAID_STATUSES
        or order.payments.filter(state=Payment.State.SUCCEEDED).exclude(pk=payment.pk).exists()
    )
    payment.state = Payment.State.CANCELLED if paid_already else Payment.State.SUCCEEDED
    payment.succeeded_at = now
    payment.error = "paid twice: refunded" if paid_already else ""
    payment.save()
    audit_log(
        action="payment.succeeded",
        obj=order,
        payload={
            "payment": payment.pk,
            "amount_yen": payment.amount_yen,
            "provider": payment.provider,
            "stripe_payment_intent_id": payment.stripe_payment_intent_id,
        },
        now=now,
        **actor(by, system),
    )
    if paid_already:
        why = _why("the order had already been paid another way.")
        return payment, _unclaimed(order, payment, why, by, system, now, "paid twice")
    if order.status == Order.Status.PENDING and payment.amount_yen != order.total_yen:
        # Opened before the order was reduced (a week of an unpaid repeat booking cancelled): it asked for
        # the old amount, so it goes back whole and the member pays the new amount.
        logger.warning(
            "Payment for order #%s asked %s, the order now %s", order.pk, payment.amount_yen, order.total_yen
        )
        why = _why("the order's amount changed before the payment arrived.")
        return payment, _unclaimed(order, payment, why, by, system, now, "paid the amount before a change")
    if order.status != Order.Status.PENDING:
        logger.warning("Payment for order #%s in status %s: refunding it", order.pk, order.status)
        why = _why("the order had been cancelled before the payment arrived.")
        return payment, _unclaimed(order, payment, why, by, system, now, f"paid while {order.status}")
    try:
        with transaction.atomic():
            order_mark_paid(order=order, by=by, system=system, now=now)
    except DomainError as error:
        logger.warning("Payment for order #%s could not be fulfilled: %s", order.pk, error)
        with translation.override(settings.LANGUAGE_CODE):
            why = str(error.message)
        order_cancel(order=order, by=by, system=system, now=now)
        return payment, _unclaimed(order, payment, why, by, system, now, f"paid but not fulfilled ({why})")
    # Out of order: a refund of this money recorded before the payment (its webhook came first) now applies
    # to the paid order — refunded in full, it is undone at once instead of staying paid and delivered.
    if order.refunds.filter(state__in=Refund.DONE_STATES).exists():
        _order_after_refund(order=Order.objects.get(pk=order.pk), by=by, system=system, now=now)
        return payment, "paid, and refunds recorded before it applied"
    return payment, "paid"


def _why(message: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(message)


def _unclaimed(order, payment, why, by, system, now, what: str) -> str:
    if payment.amount_yen < 1:
        return f"{what}: nothing to refund"
    refund = order_refund_unclaimed_payment(
        order=order, payment=payment, why=why, by=by, system=system, now=now
    )
    return f"{what}: refunded automatically, {refund.amount_yen} yen (refund #{refund.pk})"


@transaction.atomic
def payment_failed(
    *, payment: Payment, error: str = "", by=None, system: str = "", now: datetime | None = None
) -> Payment:
    """The payment did not happen (its session expired, the test gateway's "fail"). The order stays
    pending: the member may pay again (a new payment)."""
    now = now or timezone.now()
    order = order_lock(payment.order_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.state not in OPEN_STATES:
        return payment
    payment.state = Payment.State.FAILED
    payment.error = error[:300]
    payment.save(update_fields=["state", "error", "updated_at"])
    audit_log(
        action="payment.failed",
        obj=order,
        payload={"payment": payment.pk, "error": payment.error},
        now=now,
        **actor(by, system),
    )
    return payment


def payment_test_gateway_result(*, order: Order, succeeded: bool, by, now: datetime | None = None) -> Payment:
    """The test gateway's two buttons (no Stripe keys: local demos only)."""
    if not using_test_gateway():
        raise OrderError(gettext("The test gateway is off."))
    payment = _payment_open(
        order=order, provider=Payment.Provider.TEST_GATEWAY, by=by, now=now or timezone.now()
    )
    if not succeeded:
        return payment_failed(payment=payment, error="test gateway: failed", by=by, now=now)
    payment, _result = payment_succeeded(payment=payment, by=by, now=now)
    for refund in payment.refunds.filter(state=Refund.State.CREATED):
        refund_execute(refund=refund, by=by, now=now)  # an unclaimed payment, after the commit
    return payment
