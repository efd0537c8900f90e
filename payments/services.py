"""Orders: create (through the price pipeline), mark paid (fulfils), cancel (undoes fulfilment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.emails import queue_templated_email
from payments import registry
from payments.exceptions import OrderError
from payments.models import Order, OrderLine, Product
from payments.pricing import price_draft


@dataclass(frozen=True)
class LineDraft:
    kind: str
    description: str
    unit_price_yen: int
    quantity: int = 1
    product: Product | None = None
    reservation: object | None = None


@transaction.atomic
def order_create(
    *, member, lines: list[LineDraft], payment_method: str, options: dict | None = None
) -> Order:
    if not lines:
        raise OrderError(gettext("An order needs at least one line."))
    draft = price_draft(member=member, lines=lines, payment_method=payment_method, options=options)
    if draft.total_yen < 0:
        raise OrderError(gettext("The discounts are larger than the price."))
    order = Order.objects.create(
        member=member,
        payment_method=payment_method,
        subtotal_yen=draft.subtotal_yen,
        price_rule_discount_yen=draft.price_rule_discount_yen,
        member_discount_yen=draft.member_discount_yen,
        coupon_discount_yen=draft.coupon_discount_yen,
        points_used=draft.points_used,
        total_yen=draft.total_yen,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            kind=line.kind,
            product=line.product,
            reservation=line.reservation,
            description=line.description[:200],
            quantity=line.quantity,
            unit_price_yen=line.unit_price_yen,
        )
        for line in lines
    )
    return order


def order_check_payable(*, order: Order, now: datetime | None = None) -> None:
    """Raise DomainError when a line can no longer be paid for (a ticket's purchase limit reached by
    another order meanwhile), before the member is sent to pay. Fulfilment checks again when paid."""
    now = now or timezone.now()
    for line in order.lines.select_related("product").order_by("pk"):
        registry.check_line(line=line, now=now)


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update().get(pk=order.pk)


def order_mark_paid_at_counter(*, order: Order, now: datetime | None = None) -> Order:
    """Staff recorded the money at the counter (入金). A card order's open Checkout Session is closed
    first, so the member cannot also pay it by card; if Stripe says it already completed, the card
    payment stands and the webhook marks the order paid."""
    from payments import stripe_api
    from payments.gateway import using_test_gateway

    if (
        order.payment_method == Order.Method.CARD
        and order.stripe_checkout_session_id
        and not using_test_gateway()
    ) and not stripe_api.checkout_session_expire(order.stripe_checkout_session_id):
        raise OrderError(
            gettext("The member already paid this order by card (or is paying now); it will be marked paid.")
        )
    return order_mark_paid(order=order, now=now)


@transaction.atomic
def order_mark_paid(*, order: Order, by=None, now: datetime | None = None) -> Order:
    """入金: pending → paid, then every line is fulfilled in the same transaction. Paying twice (a webhook
    received again, staff clicking twice) changes nothing the second time."""
    now = now or timezone.now()
    order = _locked(order)
    if order.status == Order.Status.PAID:
        return order
    if order.status != Order.Status.PENDING:
        raise OrderError(gettext("Only a pending order can be marked as paid."))
    order.status = Order.Status.PAID
    order.paid_at = now
    order.save(update_fields=["status", "paid_at", "updated_at"])
    for line in order.lines.select_related("product").order_by("pk"):
        if line.fulfilled_at is None:
            registry.fulfiller_for(line.kind).fulfil(line=line, now=now)
            line.fulfilled_at = now
            line.save(update_fields=["fulfilled_at"])
    queue_templated_email(
        template="payments/order_paid",
        context={"order": order, "lines": list(order.lines.all()), "member_name": order.member.name},
        to=[order.member.email],
    )
    return order


@transaction.atomic
def order_cancel(*, order: Order, by=None, now: datetime | None = None, undo: bool = True) -> Order:
    """Cancel a pending or paid order and undo what its lines delivered (money goes back separately,
    through a refund). `undo=False` when the cancellation comes from what the line delivered (a booking
    cancelled by its member releases its unpaid order; the booking is already being undone)."""
    now = now or timezone.now()
    order = _locked(order)
    if order.status == Order.Status.CANCELLED:
        return order
    if order.status not in (Order.Status.PENDING, Order.Status.PAID):
        raise OrderError(gettext("This order can no longer be cancelled."))
    for line in order.lines.order_by("pk") if undo else ():
        registry.fulfiller_for(line.kind).undo(line=line, now=now, by=by)
    order.status = Order.Status.CANCELLED
    order.cancelled_at = now
    order.save(update_fields=["status", "cancelled_at", "updated_at"])
    return order


@transaction.atomic
def order_refund(*, order: Order, amount_yen: int, reason: str, by, now: datetime | None = None):
    """Give back `amount_yen` of a paid order: through Stripe (with an idempotency key, so a retried
    request never refunds twice) for card payments, recorded for counter payments. A full refund also
    undoes what the order delivered (the booking is cancelled)."""
    from payments import stripe_api
    from payments.models import Refund

    now = now or timezone.now()
    order = _locked(order)
    if order.status != Order.Status.PAID:
        raise OrderError(gettext("Only a paid order can be refunded."))
    if amount_yen < 1 or amount_yen > order.total_yen - order.refunded_yen:
        raise OrderError(
            gettext("The refund must be between ¥1 and ¥{left:,} (what is left to refund).").format(
                left=order.total_yen - order.refunded_yen
            ),
            field="amount_yen",
        )
    if not reason.strip():
        raise OrderError(gettext("Enter the reason for the refund."), field="reason")
    refund = Refund.objects.create(
        order=order, amount_yen=amount_yen, reason=reason.strip()[:200], created_by=by
    )
    if order.payment_method == Order.Method.CARD and order.stripe_payment_intent_id:
        sent = stripe_api.refund_create(
            payment_intent=order.stripe_payment_intent_id,
            amount_yen=amount_yen,
            idempotency_key=f"refund-{refund.pk}",
        )
        refund.stripe_refund_id = sent.id
        refund.save(update_fields=["stripe_refund_id"])
    order.refunded_yen += amount_yen
    fields = ["refunded_yen", "updated_at"]
    if order.refunded_yen == order.total_yen:
        for line in order.lines.order_by("pk"):
            registry.fulfiller_for(line.kind).undo(line=line, now=now, by=by)
        order.status = Order.Status.REFUNDED
        fields.append("status")
    order.save(update_fields=fields)
    return refund


@transaction.atomic
def order_refund_unclaimed_payment(
    *, order: Order, payment_intent: str, amount_yen: int, why: str, now: datetime | None = None
):
    """A card payment that reached an order which cannot take it goes straight back to the member: the
    order was cancelled before the money arrived (an unpaid booking released), or what it pays for can no
    longer be delivered (a purchase limit reached by another order meanwhile). Nobody has to notice and
    refund by hand.

    The whole amount is refunded through Stripe with an idempotency key per payment (a webhook received
    again, or a second event for the same payment, never refunds twice), recorded as a Refund of the order
    with the reason in the shop's language, the order ends cancelled (a pending one is cancelled, undoing
    what it had reserved), and the member is e-mailed why. Returns the Refund."""
    from django.conf import settings
    from django.db.models import F
    from django.db.models.functions import Least
    from django.utils import translation

    from payments import stripe_api
    from payments.models import Refund

    now = now or timezone.now()
    order = _locked(order)
    sent = stripe_api.refund_create(
        payment_intent=payment_intent, amount_yen=amount_yen, idempotency_key=f"unclaimed-{payment_intent}"
    )
    existing = Refund.objects.filter(order=order, stripe_refund_id=sent.id).first()
    if existing is not None:
        return existing
    if order.status == Order.Status.PENDING:
        order_cancel(order=order, now=now)
    with translation.override(settings.LANGUAGE_CODE):
        reason = gettext("Refunded automatically: %(why)s") % {"why": why}
    refund = Refund.objects.create(
        order=order, amount_yen=amount_yen, reason=reason[:200], stripe_refund_id=sent.id
    )
    Order.objects.filter(pk=order.pk).update(
        refunded_yen=Least(F("refunded_yen") + amount_yen, F("total_yen")), updated_at=now
    )
    with translation.override(settings.LANGUAGE_CODE):
        queue_templated_email(
            template="payments/payment_refunded",
            context={
                "order": order,
                "amount_yen": amount_yen,
                "why": why,
                "member_name": order.member.name,
            },
            to=[order.member.email],
        )
    return refund
