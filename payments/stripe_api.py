"""Calls to Stripe's API through the official client. STRIPE_API_BASE points it elsewhere (a local test
double in tests); amounts are integer yen, which Stripe treats as zero-decimal for JPY."""

from __future__ import annotations

import stripe
from django.conf import settings

from payments.models import Order, Payment, Product


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


def checkout_session_create(
    *, order: Order, payment: Payment, success_url: str, cancel_url: str
) -> stripe.checkout.Session:
    """A Checkout Session in payment mode for a pending order (3-D Secure is handled by Stripe). The
    idempotency key is the Payment row's, so a double click, a retried request or the payment page opened
    again gives the same session, not a second one to pay. The metadata names the order and the payment,
    so the webhook and the reconciler find the row."""
    items = _line_items(order)
    monthly = order.lines.filter(product__kind=Product.Kind.MONTHLY).exists()
    if monthly:
        # Subscription mode: the monthly product's price recurs every month (plans act on its invoices).
        for item in items:
            item["price_data"]["recurring"] = {"interval": "month"}
    metadata = {"order_id": str(order.pk), "payment_id": str(payment.pk)}
    params = {
        "mode": "subscription" if monthly else "payment",
        "line_items": items,
        "client_reference_id": str(order.pk),
        "metadata": metadata,
        "customer_email": order.member.email,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "locale": "ja",
    }
    if not monthly:
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
