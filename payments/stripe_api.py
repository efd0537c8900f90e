"""Calls to Stripe's API through the official client. STRIPE_API_BASE points it elsewhere (a local test
double in tests); amounts are integer yen, which Stripe treats as zero-decimal for JPY."""

from __future__ import annotations

from datetime import datetime

import stripe
from django.conf import settings
from django.utils import timezone

from payments import registry
from payments.models import Order, Payment, Product


def client() -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)


def _price_data(*, name: str, unit_amount: int, recurring: bool = False) -> dict:
    data = {"currency": "jpy", "unit_amount": unit_amount, "product_data": {"name": name[:200]}}
    if recurring:
        data["recurring"] = {"interval": "month"}
    return data


def _one_time_items(order: Order, lines: list, total_yen: int) -> list[dict]:
    """The lines charged once. With no discount each line is its own item; otherwise our discounts (price
    rule, member discount, coupon, points) are already taken off, so the total is charged as one item and
    what Stripe collects is exactly the order's total. A 0-yen line (a plan's monthly product, whose price
    recurs on its own item) is not sent."""
    if total_yen == sum(line.total_yen for line in lines):
        return [
            {
                "price_data": _price_data(name=line.description, unit_amount=line.unit_price_yen),
                "quantity": line.quantity,
            }
            for line in lines
            if line.unit_price_yen > 0
        ]
    summary = f"#{order.pk} " + " / ".join(line.description for line in lines)
    return (
        [{"price_data": _price_data(name=summary, unit_amount=total_yen), "quantity": 1}]
        if total_yen > 0
        else []
    )


def checkout_session_create(
    *, order: Order, payment: Payment, success_url: str, cancel_url: str, now: datetime | None = None
) -> stripe.checkout.Session:
    """A Checkout Session for a pending order (3-D Secure is handled by Stripe). The idempotency key is the
    Payment row's, so a double click, a retried request or the payment page opened again gives the same
    session, not a second one to pay. The metadata names the order and the payment, so the webhook and
    the reconciler find the row.

    Payment mode, unless something recurs: a subscription that a higher app attaches to the order
    (registry.subscription_for: a plan's monthly price, billed from its anchor with nothing prorated
    before it), or a monthly product sold as a line of its own. Only what recurs is sent as recurring;
    every other line (an enrollment fee, a contract-month fee) is charged once, with the first invoice."""
    now = now or timezone.now()
    lines = list(order.lines.select_related("product").order_by("pk"))
    subscription = registry.subscription_for(order=order, now=now)
    monthly = [
        line
        for line in lines
        if subscription is None
        and line.product is not None
        and line.product.kind == Product.Kind.MONTHLY
        and line.unit_price_yen > 0  # a 0-yen monthly line only names a price that recurs elsewhere
    ]
    once = [line for line in lines if line not in monthly]
    items = _one_time_items(
        order, once, total_yen=max(0, order.total_yen - sum(line.total_yen for line in monthly))
    )
    items += [
        {
            "price_data": _price_data(name=line.description, unit_amount=line.unit_price_yen, recurring=True),
            "quantity": line.quantity,
        }
        for line in monthly
    ]
    metadata = {"order_id": str(order.pk), "payment_id": str(payment.pk)}
    if subscription is not None:
        items.append(
            {
                "price_data": _price_data(
                    name=subscription.name, unit_amount=subscription.price_yen, recurring=True
                ),
                "quantity": 1,
            }
        )
    params = {
        "mode": "subscription" if subscription is not None or monthly else "payment",
        "line_items": items,
        "client_reference_id": str(order.pk),
        "metadata": {**metadata, **(subscription.metadata if subscription else {})},
        "customer_email": order.member.email,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "locale": "ja",
    }
    if subscription is not None:
        # The first invoice holds the one-time lines only; the monthly price is billed in full from the
        # anchor on (Stripe's billing_cycle_anchor with proration "none": the time before it is free,
        # because the one-time contract-month fee pays for it). A trial would do the same but Checkout
        # wants a trial to end 48 hours ahead at least, which the last day of a month cannot give.
        params["subscription_data"] = {
            "billing_cycle_anchor": int(subscription.billing_cycle_anchor.timestamp()),
            "proration_behavior": "none",
            "metadata": {**metadata, **subscription.metadata},
        }
    elif not monthly:
        params["payment_intent_data"] = {"metadata": metadata}
    return client().v1.checkout.sessions.create(
        params=params, options={"idempotency_key": f"payment-{payment.pk}-checkout"}
    )


def checkout_session_retrieve(session_id: str) -> dict:
    """A Checkout Session as Stripe has it now (status open / complete / expired), as a plain dict."""
    return client().v1.checkout.sessions.retrieve(session_id).to_dict()


def refund_create(
    *, payment_intent: str, amount_yen: int, idempotency_key: str, metadata: dict[str, str]
) -> stripe.Refund:
    """One refund. The metadata carries our refund id: Stripe forgets idempotency keys after 24 hours, so
    the reconciler finds a refund we made by listing the payment's refunds, never by sending it again."""
    return client().v1.refunds.create(
        params={"payment_intent": payment_intent, "amount": amount_yen, "metadata": metadata},
        options={"idempotency_key": idempotency_key},
    )


def refunds_list(*, payment_intent: str) -> list[dict]:
    """Every refund of a payment at Stripe (ours and those made in the dashboard), as plain dicts."""
    page = client().v1.refunds.list(params={"payment_intent": payment_intent, "limit": 100})
    return [each.to_dict() for each in page.auto_paging_iter()]


def checkout_session_expire(session_id: str) -> bool:
    """Close an open Checkout Session so the member cannot pay it after staff recorded a counter payment.
    False when Stripe refuses (the session already completed or expired)."""
    try:
        client().v1.checkout.sessions.expire(session_id)
    except stripe.InvalidRequestError:
        return False
    return True


def subscription_cancel_at_period_end(subscription_id: str, *, idempotency_key: str) -> dict:
    """Stop a subscription when its current period ends (our periods end at a month's end: the billing
    cycle is anchored at the 1st). Asking twice is harmless."""
    return (
        client()
        .v1.subscriptions.update(
            subscription_id,
            params={"cancel_at_period_end": True},
            options={"idempotency_key": idempotency_key},
        )
        .to_dict()
    )


def subscription_change_price(
    subscription_id: str, *, name: str, price_yen: int, metadata: dict[str, str], idempotency_key: str
) -> dict:
    """Switch the subscription's (one) item to a new monthly price without proration: the next invoice,
    on the 1st, bills the new price in full. Stripe's subscription item takes only a price id or price data
    naming an existing product, so the price is made first (with its product)."""
    api = client().v1
    subscription = api.subscriptions.retrieve(subscription_id).to_dict()
    item_id = subscription["items"]["data"][0]["id"]
    price = api.prices.create(
        params={
            "currency": "jpy",
            "unit_amount": price_yen,
            "recurring": {"interval": "month"},
            "product_data": {"name": name[:200]},
        },
        options={"idempotency_key": f"{idempotency_key}-price"},
    )
    return api.subscriptions.update(
        subscription_id,
        params={
            "items": [{"id": item_id, "price": price.id}],
            "proration_behavior": "none",
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    ).to_dict()
