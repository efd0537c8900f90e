"""Buying a ticket on the member site: what is on sale, what a member may still buy, the price preview and
their unpaid orders — reads only. Making the order is a service: tickets.services.ticket_purchase_start."""

from __future__ import annotations

from django.db.models import Count

from payments import registry
from payments.models import Order
from tickets.models import MemberTicket, TicketType
from tickets.services.purchases import payment_method_for, purchase_line

__all__ = [
    "on_sale_ticket_types",
    "payment_method_for",
    "pending_orders",
    "purchases_left",
    "ticket_purchase_preview",
]

# The order statuses in which a purchase counts towards the limit (as tickets.selectors.purchases_count).
COUNTED_STATUSES = (Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED)


def on_sale_ticket_types():
    """The ticket types members can buy: shown, with a product that is on sale."""
    return TicketType.objects.filter(is_visible=True, product__isnull=False, product__is_active=True)


def ticket_purchase_preview(
    *, member, ticket_type: TicketType, options: dict | None = None
) -> registry.PriceDraft:
    """The amounts the order would have (the member discount applies to card payments; `options`: the
    page's extras, points to use), for the confirmation page. Writes nothing."""
    line = purchase_line(ticket_type)
    draft = registry.PriceDraft(member=member, payment_method=payment_method_for(ticket_type), lines=[line])
    draft.subtotal_yen = line.unit_price_yen * line.quantity
    return registry.apply_pipeline(draft, options)


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
