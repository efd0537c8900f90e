"""Lock order for a booking paid with a ticket: (item or slot, taken by inventory) → the advisory lock on
(member, ticket type) → the ticket row. Cancelling takes the reservation row, then the ticket row."""

from core.locks import advisory_xact_lock
from tickets.models import MemberTicket


def member_ticket_for_update(ticket_id: int) -> MemberTicket:
    return (
        MemberTicket.objects.select_for_update(of=("self",)).select_related("ticket_type").get(pk=ticket_id)
    )


def member_type_lock(*, member_id: int, ticket_type_id: int) -> None:
    """Serialises one member's bookings with one ticket type, so the two concurrency limits (which count
    the places of live reservations, not rows that could be locked) cannot be overrun by parallel bookings."""
    advisory_xact_lock(f"tickets.limits:{member_id}:{ticket_type_id}")


def member_purchase_lock(*, member_id: int, ticket_type_id: int) -> None:
    advisory_xact_lock(f"tickets.purchases:{member_id}:{ticket_type_id}")
