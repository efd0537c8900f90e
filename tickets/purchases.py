"""Buying a ticket on the member site: the order for a ticket's product, and what the member may still buy.

The per-member purchase limit counts paid purchases that were not cancelled or refunded. It is checked
three times: here when the order is made (under a lock on (member, ticket type), so parallel purchases of
a free trial give exactly one ticket), at the checkout page (`order_check_payable`) and when the payment
arrives (the fulfiller, under the same lock), because a member may hold several unpaid orders."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from payments import registry
from payments.models import Order, OrderLine
from payments.services import LineDraft, order_create, order_mark_paid
from tickets import locks, services
from tickets.models import MemberTicket, TicketType

# The order statuses in which a purchase counts towards the limit (as tickets.selectors.purchases_count).
COUNTED_STATUSES = (Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED)


def on_sale_ticket_types():
    """The ticket types members can buy: shown, with a product that is on sale."""
    return TicketType.objects.filter(is_visible=True, product__isnull=False, product__is_active=True)


def payment_method_for(ticket_type: TicketType) -> str:
    """A 0-yen product (a free trial) needs no card: its order is free and paid at once."""
    return Order.Method.FREE if ticket_type.product.price_yen == 0 else Order.Method.CARD


def _line(ticket_type: TicketType) -> LineDraft:
    return LineDraft(
        kind=OrderLine.Kind.PRODUCT,
        product=ticket_type.product,
        description=ticket_type.name,
        unit_price_yen=ticket_type.product.price_yen,
        quantity=1,
    )


def ticket_purchase_preview(*, member, ticket_type: TicketType) -> registry.PriceDraft:
    """The amounts the order would have (the member discount applies to card payments), for the
    confirmation page. Writes nothing."""
    line = _line(ticket_type)
    draft = registry.PriceDraft(member=member, payment_method=payment_method_for(ticket_type), lines=[line])
    draft.subtotal_yen = line.unit_price_yen * line.quantity
    return registry.apply_pipeline(draft)


@transaction.atomic
def ticket_purchase_start(*, member, ticket_type: TicketType, now: datetime | None = None) -> Order:
    """Make the order for one ticket. A paid ticket's order is pending, to be paid by card at the checkout
    (the ticket is issued when the payment arrives). A free ticket's order is paid in the same
    transaction, so the ticket is in the wallet at once. Raises TicketError (not on sale) or
    PurchaseLimitError; BusyError when the lock cannot be had in time."""
    now = now or timezone.now()
    locks.member_purchase_lock(member_id=member.pk, ticket_type_id=ticket_type.pk)
    # Re-read under the lock: staff may have hidden the ticket or taken its product off sale meanwhile.
    ticket_type = TicketType.objects.select_related("product").get(pk=ticket_type.pk)
    services.check_purchase_allowed(member=member, ticket_type=ticket_type)
    method = payment_method_for(ticket_type)
    order = order_create(member=member, lines=[_line(ticket_type)], payment_method=method)
    if method == Order.Method.FREE:
        order = order_mark_paid(order=order, now=now)
    return order


def purchases_left(*, member, ticket_types) -> dict[int, int]:
    """{ticket type id: purchases the member may still make} for the types with a purchase limit, in one
    query (the list page shows it for every ticket)."""
    limited = {
        each.pk: each.max_purchases_per_member for each in ticket_types if each.max_purchases_per_member
    }
    if not limited or member is None or not member.is_authenticated:
        return {}
    made = dict(
        MemberTicket.objects.filter(
            member=member,
            ticket_type_id__in=limited,
            source=MemberTicket.Source.PURCHASE,
            order_line__order__status__in=COUNTED_STATUSES,
        )
        .values("ticket_type_id")
        .annotate(count=Count("pk"))
        .values_list("ticket_type_id", "count")
    )
    return {pk: max(limit - made.get(pk, 0), 0) for pk, limit in limited.items()}


def pending_orders(*, member, ticket_type: TicketType):
    """The member's unpaid orders for this ticket (shown on the ticket page, so they pay one rather than
    making another)."""
    return Order.objects.filter(
        member=member, status=Order.Status.PENDING, lines__product_id=ticket_type.product_id
    ).order_by("-created_at", "-id")
