"""Buying a ticket on the member site: the order for a ticket's product (the reads around it — what is on
sale, what a member may still buy, the price preview — are in tickets.purchases).

The per-member purchase limit counts paid purchases that were not cancelled or refunded. It is checked
three times: here when the order is made (under a lock on (member, ticket type), so parallel purchases of
a free trial give exactly one ticket), at the checkout page (`order_check_payable`) and when the payment
arrives (the fulfiller, under the same lock), because a member may hold several unpaid orders."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.audit import audit_log
from payments.models import Order, OrderLine
from payments.services import LineDraft, order_create, order_mark_paid
from tickets import locks
from tickets.models import TicketType
from tickets.services.wallet import check_purchase_allowed


def payment_method_for(ticket_type: TicketType) -> str:
    """A 0-yen product (a free trial) needs no card: its order is free and paid at once."""
    return Order.Method.FREE if ticket_type.product.price_yen == 0 else Order.Method.CARD


def purchase_line(ticket_type: TicketType) -> LineDraft:
    return LineDraft(
        kind=OrderLine.Kind.PRODUCT,
        product=ticket_type.product,
        description=ticket_type.name,
        unit_price_yen=ticket_type.product.price_yen,
        quantity=1,
    )


@transaction.atomic
def ticket_purchase_start(
    *, member, ticket_type: TicketType, by, options: dict | None = None, now: datetime | None = None
) -> Order:
    """Make the order for one ticket (`by`: who buys, the member on the site; `options`: the confirm page's
    extras, points to use). A paid ticket's order is pending, to be paid by card at the checkout (the ticket
    is issued when the payment arrives). A free ticket's order, or one points pay in full, is paid in the
    same transaction (no card), so the ticket is in the wallet at once. Raises TicketError (not on sale),
    PurchaseLimitError or the points' refusal; BusyError when the lock cannot be had in time."""
    now = now or timezone.now()
    locks.member_purchase_lock(member_id=member.pk, ticket_type_id=ticket_type.pk)
    # Re-read under the lock: staff may have hidden the ticket or taken its product off sale meanwhile.
    ticket_type = TicketType.objects.select_related("product").get(pk=ticket_type.pk)
    check_purchase_allowed(member=member, ticket_type=ticket_type)
    method = payment_method_for(ticket_type)
    order = order_create(
        member=member,
        lines=[purchase_line(ticket_type)],
        payment_method=method,
        by=by,
        options=options,
        now=now,
    )
    audit_log(
        action="ticket.purchase_started",
        obj=order,
        by=by,
        now=now,
        payload={"member": member.pk, "ticket_type": ticket_type.pk, "payment_method": method},
    )
    if method == Order.Method.FREE or order.total_yen == 0:
        order = order_mark_paid(order=order, by=by, now=now)
    return order
