"""Reads of the ticket wallet: which tickets can pay for a booking, how many reservations a member holds
with a ticket type, how many times a member bought a ticket type."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from inventory.models import Reservation
from payments.models import Order
from tickets import hooks
from tickets.models import MemberTicket, TicketEntry, TicketType


def usable_tickets(*, member, item, on: date, today: date, uses: int = 1) -> QuerySet[MemberTicket]:
    """The member's tickets that can pay for a booking of `item` starting on `on`, the one that expires
    first first (SPEC §6; no expiry counts as last). Valid today and on the booking's day, with at least
    `uses` uses left (one per place booked: one ticket pays a booking whole), for this item, at its store (a
    ticket with no stores is usable at every store), and allowed by every registered use check (tickets.hooks:
    a plan grant's usable-plan restriction on the booked day)."""
    latest = max(on, today)
    tickets = MemberTicket.objects.filter(
        member=member,
        status=MemberTicket.Status.ACTIVE,
        uses_left__gte=max(uses, 1),
        ticket_type__items=item,
        valid_from__lte=min(on, today),
    ).filter(Q(valid_through__isnull=True) | Q(valid_through__gte=latest))
    # Rules of higher apps (a plan grant's usable-plan restriction), in this same query.
    for refused in hooks.refusals(member_id=member.pk, on=on):
        tickets = tickets.filter(~refused)
    return (
        tickets.annotate(
            store_count=Count("stores", distinct=True),
            at_store=Count("stores", filter=Q(stores=item.store_id)),
        )
        .filter(Q(store_count=0) | Q(at_store__gt=0))
        .select_related("ticket_type")
        .order_by("valid_through", "pk")  # NULLS LAST is PostgreSQL's default for ascending order
    )


def live_reservations_with_type(*, member_id: int, ticket_type_id: int) -> QuerySet[Reservation]:
    """The member's tentative and confirmed reservations paid with a ticket of this type (the two
    concurrency limits count these)."""
    return Reservation.objects.filter(
        member_id=member_id,
        status__in=Reservation.LIVE_STATUSES,
        ticket_entries__kind=TicketEntry.Kind.USED,
        ticket_entries__ticket__ticket_type_id=ticket_type_id,
    ).distinct()


def live_places_with_type(*, member_id: int, ticket_type_id: int, on: date) -> tuple[int, int]:
    """The places of the member's live reservations paid with a ticket of this type: in all, and on the
    JST day `on` (the two concurrency limits count places, not bookings: SPEC §6)."""
    held = held_on_day = 0
    rows = live_reservations_with_type(member_id=member_id, ticket_type_id=ticket_type_id).values_list(
        "quantity", "starts_at"
    )
    for quantity, starts_at in rows:
        held += quantity
        if timezone.localdate(starts_at) == on:
            held_on_day += quantity
    return held, held_on_day


def purchases_count(*, member_id: int, ticket_type: TicketType) -> int:
    """Paid purchases that were not cancelled or refunded (顧客毎の購入回数制限 counts these)."""
    return MemberTicket.objects.filter(
        member_id=member_id,
        ticket_type=ticket_type,
        source=MemberTicket.Source.PURCHASE,
        order_line__order__status__in=(Order.Status.PAID, Order.Status.PARTIALLY_CANCELLED),
    ).count()


def ledger_differences() -> list[tuple[MemberTicket, int, int, int, int]]:
    """Tickets whose cached uses disagree with their ledger: (ticket, uses_left, ledger_left, uses_total,
    ledger_total). uses_left is the sum of every entry; uses_total the sum of issued and manual ones."""
    from django.db.models import F, Sum
    from django.db.models.functions import Coalesce

    rows = (
        MemberTicket.objects.annotate(
            ledger_left=Coalesce(Sum("entries__delta"), 0),
            ledger_total=Coalesce(
                Sum(
                    "entries__delta",
                    filter=Q(entries__kind__in=[TicketEntry.Kind.ISSUED, TicketEntry.Kind.MANUAL]),
                ),
                0,
            ),
        )
        .filter(~Q(uses_left=F("ledger_left")) | ~Q(uses_total=F("ledger_total")))
        .select_related("member", "ticket_type")
        .order_by("pk")
    )
    return [(row, row.uses_left, row.ledger_left, row.uses_total, row.ledger_total) for row in rows]


def ledger_report() -> list[str]:
    return [
        f"member ticket #{ticket.pk} ({ticket.member.email}, {ticket.ticket_type.name}): "
        f"uses_left {left} but ledger says {ledger_left}; uses_total {total} but ledger says {ledger_total}"
        for ticket, left, ledger_left, total, ledger_total in ledger_differences()
    ]
