"""Stripe webhooks: verified against the raw body, stored once by event id, processed in the same
transaction as their effect, so a redelivered, concurrent or out-of-order event never acts twice.

Order of delivery is not guaranteed by Stripe; each handler therefore looks at the state it is about to
change (an order already paid stays paid; a refund total only grows) instead of trusting arrival order."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError
from payments import stripe_api
from payments.gateway import using_test_gateway
from payments.models import Order, Refund, StripeEvent
from payments.services import (
    payment_for_checkout_session,
    payment_succeeded,
    refund_execute,
    refunds_record_amount_from_stripe,
    refunds_record_from_stripe,
)

logger = logging.getLogger(__name__)

# The audit trail's name for changes Stripe's webhook made.
SYSTEM = "stripe_webhook"


class WebhookRejectedError(DomainError):
    default_message = _("The webhook could not be verified.")


def verify(payload: bytes, signature_header: str) -> dict:
    """Signature and timestamp (5 minutes' tolerance) checked by the official client, then the body's
    shape by event_from_payload (the client's construct_event fails with an AttributeError on a signed
    body that is not a JSON object, so it is not used).

    Whatever fails the signature, the sender gets the same plain refusal (the default message): the
    client's own reasons would tell anyone whether a secret is configured. The reason is logged."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    try:
        if not secret:
            raise stripe.SignatureVerificationError("STRIPE_WEBHOOK_SECRET is not set", signature_header)
        stripe.WebhookSignature.verify_header(
            payload, signature_header, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
    except (ValueError, stripe.SignatureVerificationError) as error:
        logger.warning("Stripe webhook refused: %s", error)
        raise WebhookRejectedError() from error
    return event_from_payload(payload)


# The largest "created" a DateTimeField takes (9999-12-31 23:59:59 UTC).
_LAST_TIMESTAMP = 253402300799


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def event_from_payload(payload: bytes) -> dict:
    """The verified body as an event of the shape stripe_event_process reads (an object with a string id
    and type, data.object an object, created a timestamp); a signed body of any other shape (`[]`, `{}`,
    no `data`) is refused, so nothing is stored. Stripe never sends one: a bug or a leaked secret does."""
    not_an_event = WebhookRejectedError(_("The webhook body is not a Stripe event."))
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise not_an_event from error
    if not isinstance(event, dict):
        raise not_an_event
    data = event.get("data")
    created = event.get("created")
    if (
        not isinstance(event.get("id"), str)
        or not 0 < len(event["id"]) <= StripeEvent._meta.get_field("event_id").max_length
        or not isinstance(event.get("type"), str)
        or not 0 < len(event["type"]) <= StripeEvent._meta.get_field("type").max_length
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
        or not (created is None or (type(created) is int and 0 <= created <= _LAST_TIMESTAMP))
        or _has_nul(event)  # PostgreSQL's jsonb refuses the NUL character
    ):
        raise not_an_event
    return event


def _order_for(obj: dict) -> Order | None:
    metadata = obj.get("metadata") or {}
    reference = metadata.get("order_id") or obj.get("client_reference_id")
    if reference and str(reference).isdigit():
        return Order.objects.filter(pk=int(reference)).first()
    intent = obj.get("payment_intent")
    if intent:
        return (
            Order.objects.filter(stripe_payment_intent_id=intent).first()
            or Order.objects.filter(payments__stripe_payment_intent_id=intent).first()
        )
    return None


def _checkout_completed(obj: dict, now: datetime, prepared) -> tuple[Order | None, str]:
    """The member paid: the payment succeeds and the order is paid through payment_succeeded (which also
    gives back money the order can no longer take). This handler writes no order state itself."""
    order = _order_for(obj)
    if order is None:
        return None, "no matching order"
    payment = payment_for_checkout_session(order=order, session=obj)
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return order, f"not paid yet ({obj.get('payment_status')})"
    if obj.get("amount_total") is not None and obj["amount_total"] != payment.amount_yen:
        return order, f"amount {obj['amount_total']} does not match the payment {payment.amount_yen}"
    _payment, result = payment_succeeded(
        payment=payment, system=SYSTEM, stripe_payment_intent_id=obj.get("payment_intent") or "", now=now
    )
    return order, result


def _refunds_of_charge(obj: dict) -> list[dict] | None:
    """Called before the event's transaction (no lock is held over a call to Stripe): the charge's refunds
    as the event carries them, else as Stripe lists them; None when neither is at hand."""
    refunds = obj.get("refunds")
    if isinstance(refunds, dict) and isinstance(refunds.get("data"), list) and not refunds.get("has_more"):
        return refunds["data"]
    if obj.get("payment_intent") and not using_test_gateway():
        try:
            return stripe_api.refunds_list(payment_intent=obj["payment_intent"])
        except stripe.StripeError as error:
            logger.warning(
                "charge.refunded: could not list the refunds of %s: %s", obj["payment_intent"], error
            )
    return None


def _charge_refunded(obj: dict, now: datetime, prepared) -> tuple[Order | None, str]:
    """A charge was refunded: ours are settled, one made in the dashboard is recorded as an external refund
    and takes the same path as a staff refund (a full refund cancels the booking, revokes the ticket)."""
    order = _order_for(obj)
    if order is None:
        return None, "no matching order"
    if prepared is not None:
        order = refunds_record_from_stripe(order=order, stripe_refunds=prepared, system=SYSTEM, now=now)
    else:
        # The last resort: the charge's refunded total (an older event never lowers it).
        order = refunds_record_amount_from_stripe(
            order=order, amount_refunded_yen=int(obj.get("amount_refunded") or 0), system=SYSTEM, now=now
        )
    return order, f"refunded {order.refunded_yen} yen in total"


def _refund_updated(obj: dict, now: datetime, prepared) -> tuple[Order | None, str]:
    """charge.refund.updated / refund.updated: a refund's status changed (a pending one succeeded or
    failed)."""
    order = None
    reference = str((obj.get("metadata") or {}).get("order_id") or "")
    if reference.isdigit():
        order = Order.objects.filter(pk=int(reference)).first()
    order = order or _order_for(obj)
    if order is None:
        return None, "no matching order"
    refunds_record_from_stripe(order=order, stripe_refunds=[obj], system=SYSTEM, now=now)
    return order, f"refund {obj.get('id')} {obj.get('status')}"


def _recorded(obj: dict, now: datetime, prepared) -> tuple[Order | None, str]:
    return _order_for(obj), "recorded"


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "charge.refunded": _charge_refunded,
    "charge.refund.updated": _refund_updated,
    "refund.updated": _refund_updated,
    # Recorded now; the order stays pending (the member may retry) and plans act on subscriptions later.
    "payment_intent.payment_failed": _recorded,
    "invoice.paid": _recorded,
    "invoice.payment_failed": _recorded,
    "customer.subscription.deleted": _recorded,
}
# What a handler needs from Stripe, fetched before the event's transaction opens.
PREPARE = {"charge.refunded": _refunds_of_charge}

# What higher apps do with an event, after payments' own handler and in the same transaction (plans: a
# subscription's invoices and its end). Each returns a note for the event's result, or "" for nothing.
_more_handlers: dict[str, list] = {}


def register_event_handler(event_type: str, handler) -> None:
    """`handler(obj=<the event's data.object>, now=...) -> str`, run once per stored event."""
    _more_handlers.setdefault(event_type, []).append(handler)


def stripe_event_process(*, event: dict, now: datetime) -> tuple[bool, str]:
    """Store the event and apply its effect once. Returns (processed now, what happened).

    INSERT … ON CONFLICT DO NOTHING: a concurrent delivery of the same id waits on the unique index
    until the first commits, then inserts nothing and does nothing. Stripe is called only outside the
    transaction: before it (listing a charge's refunds) and after it (sending a refund the event
    requested, such as an unclaimed payment's)."""
    obj = event["data"]["object"]
    prepare = PREPARE.get(event["type"])
    prepared = prepare(obj) if prepare is not None else None
    with transaction.atomic():
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
        handler = HANDLERS.get(event["type"], lambda obj, now, prepared: (None, "ignored"))
        order, result = handler(obj, now, prepared)
        for more in _more_handlers.get(event["type"], ()):
            note = more(obj=obj, now=now)
            if note:
                result = f"{result}; {note}" if result not in ("ignored", "recorded") else note
        StripeEvent.objects.filter(pk=row[0]).update(order=order, result=result[:200])
    if order is not None:
        # The unclaimed payment's refund this event requested (the member's own requests send themselves).
        requested = Refund.objects.filter(
            order=order, state=Refund.State.CREATED, source=Refund.Source.UNCLAIMED
        )
        for refund in requested.order_by("pk"):
            try:
                refund_execute(refund=refund, system=SYSTEM, now=now)
            except Exception:  # the row is committed: the reconciler finishes it
                logger.exception("Refund #%s requested by event %s could not be sent", refund.pk, event["id"])
    return True, result


def _json(event: dict) -> str:
    return json.dumps(event, ensure_ascii=False)
