"""Calls to Stripe's API through the official client. STRIPE_API_BASE points it elsewhere (a local test
double in tests); amounts are integer yen, which Stripe treats as zero-decimal for JPY."""

from __future__ import annotations

import stripe
from django.conf import settings

from payments.models import Order, Product


def client() -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)


def _line_items(order: Order) -> list[dict]:
    lines = list(order.lines.all())
    summary = f"#{order.pk} " + " / ".join(line.description for line in lines)
    if order.total_yen == order.subtotal_yen:
        return [
            {
                "price_data": {
                    "currency": "jpy",
                    "unit_amount": line.unit_price_yen,
                    "product_data": {"name": line.description},
                },
                "quantity": line.quantity,
            }
            for line in lines
        ]
    # Our discounts (price rule, member discount, coupon, points) are already taken off: charge the total
    # as one line so what Stripe collects is exactly the order's total.
    return [
        {
            "price_data": {
                "currency": "jpy",
                "unit_amount": order.total_yen,
                "product_data": {"name": summary[:200]},
            },
            "quantity": 1,
        }
    ]


def checkout_session_create(*, order: Order, success_url: str, cancel_url: str) -> stripe.checkout.Session:
    """A Checkout Session in payment mode for a pending order (3-D Secure is handled by Stripe). The
    idempotency key makes a double click or a retried request create one session, not two."""
    items = _line_items(order)
    monthly = order.lines.filter(product__kind=Product.Kind.MONTHLY).exists()
    if monthly:
        # Subscription mode: the monthly product's price recurs every month (plans act on its invoices).
        for item in items:
            item["price_data"]["recurring"] = {"interval": "month"}
    params = {
        "mode": "subscription" if monthly else "payment",
        "line_items": items,
        "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)},
        "customer_email": order.member.email,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "locale": "ja",
    }
    if not monthly:
        params["payment_intent_data"] = {"metadata": {"order_id": str(order.pk)}}
    return client().v1.checkout.sessions.create(
        params=params,
        options={"idempotency_key": f"order-{order.pk}-checkout-{order.updated_at.timestamp():.0f}"},
    )


def refund_create(*, payment_intent: str, amount_yen: int, idempotency_key: str) -> stripe.Refund:
    return client().v1.refunds.create(
        params={"payment_intent": payment_intent, "amount": amount_yen},
        options={"idempotency_key": idempotency_key},
    )


def checkout_session_expire(session_id: str) -> bool:
    """Close an open Checkout Session so the member cannot pay it after staff recorded a counter payment.
    False when Stripe refuses (the session already completed or expired)."""
    try:
        client().v1.checkout.sessions.expire(session_id)
    except stripe.InvalidRequestError:
        return False
    return True
