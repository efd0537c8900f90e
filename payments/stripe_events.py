"""Stripe webhooks: verified against the raw body, stored once by event id, processed in the same
transaction as their effect, so a redelivered, concurrent or out-of-order event never acts twice.

Order of delivery is not guaranteed by Stripe; each handler therefore looks at the state it is about to
change (an order already paid stays paid; a refund total only grows) instead of trusting arrival order."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import connection, transaction
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from payments.models import Order, StripeEvent
from payments.services import order_mark_paid, order_refund_unclaimed_payment

logger = logging.getLogger(__name__)


class WebhookRejectedError(DomainError):
    default_message = _("The webhook could not be verified.")


def verify(payload: bytes, signature_header: str) -> stripe.Event:
    """Signature and timestamp (5 minutes' tolerance) checked by the official client."""
    try:
        return stripe.Webhook.construct_event(payload, signature_header, settings.STRIPE_WEBHOOK_SECRET)
    except ValueError as error:
        raise WebhookRejectedError(_("The webhook body is not valid JSON.")) from error
    except stripe.SignatureVerificationError as error:
        raise WebhookRejectedError(str(error)) from error


def _order_for(obj: dict) -> Order | None:
    metadata = obj.get("metadata") or {}
    reference = metadata.get("order_id") or obj.get("client_reference_id")
    if reference and str(reference).isdigit():
        return Order.objects.filter(pk=int(reference)).first()
    intent = obj.get("payment_intent")
    if intent:
        return Order.objects.filter(stripe_payment_intent_id=intent).first()
    return None


def _checkout_completed(obj: dict, now: datetime) -> tuple[Order | None, str]:
    order = _order_for(obj)
    if order is None:
        return None, "no matching order"
    if obj.get("payment_intent") and not order.stripe_payment_intent_id:
        Order.objects.filter(pk=order.pk).update(stripe_payment_intent_id=obj["payment_intent"])
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return order, f"not paid yet ({obj.get('payment_status')})"
    if obj.get("amount_total") is not None and obj["amount_total"] != order.total_yen:
        return order, f"amount {obj['amount_total']} does not match the order total {order.total_yen}"
    if order.status == Order.Status.PAID:
        return order, "already paid"
    if order.status != Order.Status.PENDING:
        # Money arrived for an order that was cancelled meanwhile (an unpaid booking released, say): it
        # goes back at once, and Stripe gets a 200 so it stops retrying in vain.
        logger.warning("Stripe payment for order #%s in status %s: refunding it", order.pk, order.status)
        with translation.override(settings.LANGUAGE_CODE):
            why = gettext("the order had been cancelled before the payment arrived.")
        return order, _refund_unclaimed(order, obj, why, now, f"paid while {order.status}")
    try:
        with transaction.atomic():
            order_mark_paid(order=order, now=now)
    except DomainError as error:
        logger.warning("Stripe payment for order #%s could not be fulfilled: %s", order.pk, error)
        with translation.override(settings.LANGUAGE_CODE):
            why = str(error.message)
        return order, _refund_unclaimed(order, obj, why, now, f"paid but not fulfilled ({why})")
    return order, "paid"


def _refund_unclaimed(order: Order, obj: dict, why: str, now: datetime, what: str) -> str:
    amount = int(obj.get("amount_total") or 0)
    if not obj.get("payment_intent") or amount < 1:
        return f"{what}: nothing to refund"
    refund = order_refund_unclaimed_payment(
        order=order, payment_intent=obj["payment_intent"], amount_yen=amount, why=why, now=now
    )
    return f"{what}: refunded {amount} yen automatically ({refund.stripe_refund_id})"


def _charge_refunded(obj: dict, now: datetime) -> tuple[Order | None, str]:
    order = _order_for(obj)
    if order is None:
        return None, "no matching order"
    refunded = min(int(obj.get("amount_refunded") or 0), order.total_yen)
    # Out of order: an older refund event never lowers what a newer one recorded.
    Order.objects.filter(pk=order.pk, refunded_yen__lt=refunded).update(refunded_yen=refunded)
    if refunded == order.total_yen:
        Order.objects.filter(pk=order.pk, status=Order.Status.PAID).update(status=Order.Status.REFUNDED)
    return order, f"refunded {refunded} yen in total"


def _recorded(obj: dict, now: datetime) -> tuple[Order | None, str]:
    return _order_for(obj), "recorded"


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "charge.refunded": _charge_refunded,
    # Recorded now; the order stays pending (the member may retry) and plans act on subscriptions later.
    "payment_intent.payment_failed": _recorded,
    "invoice.paid": _recorded,
    "invoice.payment_failed": _recorded,
    "customer.subscription.deleted": _recorded,
}


@transaction.atomic
def stripe_event_process(*, event: dict, now: datetime) -> tuple[bool, str]:
    """Store the event and apply its effect once. Returns (processed now, what happened).

    INSERT … ON CONFLICT DO NOTHING: a concurrent delivery of the same id waits on the unique index
    until the first commits, then inserts nothing and does nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {StripeEvent._meta.db_table} "  # noqa: S608 - table name from the model
            "(event_id, type, livemode, stripe_created, payload, received_at, result) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s, '') ON CONFLICT (event_id) DO NOTHING RETURNING id",
            [
                event["id"],
                event["type"],
                bool(event.get("livemode")),
                datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC),
                _json(event),
                now,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return False, "duplicate"
    handler = HANDLERS.get(event["type"], lambda obj, now: (None, "ignored"))
    order, result = handler(event["data"]["object"], now)
    StripeEvent.objects.filter(pk=row[0]).update(order=order, result=result[:200])
    return True, result


def _json(event: dict) -> str:
    import json

    return json.dumps(event, ensure_ascii=False)
