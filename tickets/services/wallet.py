"""The tickets members hold: issue, hand out, adjust, revoke, use for a booking, restore, expire, and the
purchase checks. Each change to a ticket's uses writes one ledger entry in the same transaction as the
cached `uses_left` (ARCHITECTURE.md, Ledgers), and one audit entry naming who acted (`by`; a system job
named in `system` when None). The nightly expiry writes one audit entry per run with its counts; its
ledger entries keep each ticket's detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from core import limits
from core.audit import audit_log
from core.exceptions import DomainError
from core.periods import valid_through_days
from tickets import locks, selectors
from tickets.exceptions import PurchaseLimitError, TicketError, TicketLimitError, TicketUnusableError
from tickets.models import MemberTicket, TicketEntry, TicketType
from tickets.services.ticket_types import validation_message

# --- the wallet -------------------------------------------------------------------------------------------


def _entry(ticket: MemberTicket, *, kind: str, delta: int, now: datetime, **links) -> TicketEntry:
    return TicketEntry.objects.create(
        ticket=ticket, kind=kind, delta=delta, uses_left_after=ticket.uses_left, created_at=now, **links
    )


@transaction.atomic
def ticket_issue(
    *,
    member,
    ticket_type: TicketType,
    source: str,
    uses: int | None = None,
    valid_from: date | None = None,
    valid_through: date | None = None,
    stores=None,
    order_line=None,
    by,
    system: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> MemberTicket:
    """Put a ticket in the member's wallet. Valid through the ticket type's validity counted from
    `valid_from` (the purchase or grant day, day 1) unless `valid_through` is given; usable at the ticket
    type's stores unless `stores` is given (a plan grant keeps the plan's stores)."""
    now = now or timezone.now()
    valid_from = valid_from or timezone.localdate(now)
    uses = ticket_type.uses if uses is None else uses
    if uses < 1:
        raise TicketError(gettext("A ticket needs at least 1 use."), field="uses")
    if valid_through is None and ticket_type.validity_days:
        valid_through = valid_through_days(valid_from, ticket_type.validity_days)
    if valid_through is not None and valid_through < valid_from:
        raise TicketError(gettext("The ticket would expire before it starts."), field="valid_through")
    ticket = MemberTicket.objects.create(
        member=member,
        ticket_type=ticket_type,
        uses_total=uses,
        uses_left=uses,
        valid_from=valid_from,
        valid_through=valid_through,
        source=source,
        order_line=order_line,
        issued_by=by,
        note=reason[:200],
    )
    ticket.stores.set(ticket_type.stores.all() if stores is None else stores)
    _entry(
        ticket,
        kind=TicketEntry.Kind.ISSUED,
        delta=uses,
        now=now,
        order_line=order_line,
        created_by=by,
        reason=reason[:200],
    )
    audit_log(
        action="ticket.issued",
        obj=ticket,
        by=by,
        system=system,
        now=now,
        payload={
            "member": member.pk,
            "ticket_type": ticket_type.pk,
            "source": source,
            "uses": uses,
            "valid_from": valid_from,
            "valid_through": valid_through,
            "order_line": order_line,
            "reason": reason[:200],
        },
    )
    return ticket


@transaction.atomic
def ticket_hand_out(
    *, member, ticket_type: TicketType, by, reason: str, uses: int | None = None, now: datetime | None = None
) -> MemberTicket:
    """管理サイトから配布: staff give a member a ticket, with the reason recorded."""
    if not reason.strip():
        raise TicketError(gettext("Enter the reason for handing out this ticket."), field="reason")
    return ticket_issue(
        member=member,
        ticket_type=ticket_type,
        source=MemberTicket.Source.MANUAL,
        uses=uses,
        by=by,
        reason=reason.strip(),
        now=now,
    )


@transaction.atomic
def ticket_adjust(*, ticket: MemberTicket, delta: int, by, reason: str, now: datetime | None = None):
    """Staff add uses to a ticket or take some away (a correction), with the reason recorded."""
    now = now or timezone.now()
    if not reason.strip():
        raise TicketError(gettext("Enter the reason for the change."), field="reason")
    if delta == 0:
        raise TicketError(gettext("Enter a change other than 0."), field="delta")
    ticket = locks.member_ticket_for_update(ticket.pk)
    if ticket.status != MemberTicket.Status.ACTIVE:
        raise TicketError(
            gettext("This ticket is {status}; it cannot be changed.").format(
                status=ticket.get_status_display()
            )
        )
    if ticket.uses_left + delta < 0:
        raise TicketError(
            gettext("Only {left} uses are left; at most {left} can be taken away.").format(
                left=ticket.uses_left
            ),
            field="delta",
        )
    if ticket.uses_total + delta > limits.MAX_COUNT:
        raise TicketError(
            gettext("A ticket holds at most {max} uses; at most {more} can be added.").format(
                max=limits.MAX_COUNT, more=limits.MAX_COUNT - ticket.uses_total
            ),
            field="delta",
        )
    before = {"uses_left": ticket.uses_left, "uses_total": ticket.uses_total}
    ticket.uses_left += delta
    ticket.uses_total += delta
    ticket.save(update_fields=["uses_left", "uses_total", "updated_at"])
    _entry(
        ticket, kind=TicketEntry.Kind.MANUAL, delta=delta, now=now, created_by=by, reason=reason.strip()[:200]
    )
    audit_log(
        action="ticket.adjusted",
        obj=ticket,
        by=by,
        now=now,
        payload={
            "delta": delta,
            "changes": {name: [old, getattr(ticket, name)] for name, old in before.items()},
            "reason": reason.strip()[:200],
        },
    )
    return ticket


@transaction.atomic
def ticket_revoke(
    *,
    ticket: MemberTicket,
    by,
    system: str = "",
    reason: str,
    order_line=None,
    now: datetime | None = None,
):
    """Take a ticket back (its purchase was cancelled or refunded): the uses left go, uses already made
    stay made. Taking back a ticket twice changes nothing the second time."""
    now = now or timezone.now()
    ticket = locks.member_ticket_for_update(ticket.pk)
    if ticket.status == MemberTicket.Status.REVOKED:
        return ticket
    taken, status_before = ticket.uses_left, ticket.status
    ticket.uses_left = 0
    ticket.status = MemberTicket.Status.REVOKED
    ticket.save(update_fields=["uses_left", "status", "updated_at"])
    _entry(
        ticket,
        kind=TicketEntry.Kind.REVOKED,
        delta=-taken,
        now=now,
        created_by=by,
        order_line=order_line,
        reason=reason[:200],
    )
    audit_log(
        action="ticket.revoked",
        obj=ticket,
        by=by,
        system=system,
        now=now,
        payload={
            "uses_taken": taken,
            "changes": {"status": [status_before, ticket.status]},
            "order_line": order_line,
            "reason": reason[:200],
        },
    )
    return ticket


def _expire(ticket: MemberTicket, *, now: datetime) -> None:
    """Under the ticket's lock: record the expiry of whatever uses are left."""
    taken = ticket.uses_left
    ticket.uses_left = 0
    ticket.status = MemberTicket.Status.EXPIRED
    ticket.save(update_fields=["uses_left", "status", "updated_at"])
    _entry(ticket, kind=TicketEntry.Kind.EXPIRED, delta=-taken, now=now)


# --- paying bookings -------------------------------------------------------------------------------------


def _check_limits(ticket_type: TicketType, *, member_id: int, on: date, places: int) -> None:
    """The two concurrency limits count places (SPEC §6): the places of the member's live reservations
    with this type, plus this booking's, must stay within each limit."""
    if not (ticket_type.max_concurrent or ticket_type.max_concurrent_per_day):
        return
    held, held_on_day = selectors.live_places_with_type(
        member_id=member_id, ticket_type_id=ticket_type.pk, on=on
    )
    if ticket_type.max_concurrent and held + places > ticket_type.max_concurrent:
        raise TicketLimitError(
            gettext(
                "With “{name}” you can book at most {limit} places at once; you already hold {held} and "
                "this booking is for {places}. Please use or cancel a booking first."
            ).format(name=ticket_type.name, limit=ticket_type.max_concurrent, held=held, places=places)
        )
    if ticket_type.max_concurrent_per_day and held_on_day + places > ticket_type.max_concurrent_per_day:
        raise TicketLimitError(
            gettext(
                "With “{name}” you can book at most {limit} places on one day; you already hold {held} on "
                "that day and this booking is for {places}."
            ).format(
                name=ticket_type.name,
                limit=ticket_type.max_concurrent_per_day,
                held=held_on_day,
                places=places,
            )
        )


def _usable(ticket: MemberTicket, *, on: date, today: date, uses: int) -> bool:
    return (
        ticket.status == MemberTicket.Status.ACTIVE
        and ticket.uses_left >= uses
        and ticket.is_valid_on(on)
        and ticket.is_valid_on(today)
    )


def _unusable_error(*, reservation, on: date, today: date, uses: int, ticket_id: int | None):
    """Why no ticket can pay: when some ticket could pay a smaller booking, how many uses this one needs
    and how many the best ticket has; otherwise that none fits (or the chosen one does not)."""
    if uses > 1:
        fitting = selectors.usable_tickets(
            member=reservation.member, item=reservation.item, on=on, today=today
        )
        if ticket_id is not None:
            fitting = fitting.filter(pk=ticket_id)
        best = max(fitting.values_list("uses_left", flat=True), default=0)
        if best:
            if ticket_id is not None:
                message = gettext(
                    "This booking needs {needed} uses of one ticket (one per place), but the ticket you "
                    "chose has only {left} left."
                )
            else:
                message = gettext(
                    "This booking needs {needed} uses of one ticket (one per place; a booking is never split "
                    "across tickets), but the best of your tickets has only {left} left."
                )
            return TicketUnusableError(message.format(needed=uses, left=best))
    if ticket_id is not None:
        return TicketUnusableError(
            gettext("The ticket you chose cannot pay for this booking (used up, expired or not valid here).")
        )
    return TicketUnusableError()


@transaction.atomic
def ticket_use(
    *, reservation, by, system: str = "", ticket_id: int | None = None, now: datetime | None = None
) -> TicketEntry:
    """Take one use per place booked for `reservation` (inside its booking transaction; `by` is who books),
    all from one ticket (SPEC §6: never split): the member's chosen ticket, or the one that expires first
    among those with enough uses left. Enforces the ticket type's two concurrency limits, counted in places,
    under a lock on (member, ticket type), and takes the uses with a conditional UPDATE under the ticket's
    row lock, so parallel bookings cannot overspend. One ledger entry of -N.
    Lock order: the advisory lock, then the ticket row (the candidate is chosen without locking)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    on = timezone.localdate(reservation.starts_at)
    uses = reservation.quantity
    candidates = selectors.usable_tickets(
        member=reservation.member, item=reservation.item, on=on, today=today, uses=uses
    )
    if ticket_id is not None:
        candidates = candidates.filter(pk=ticket_id)
    limit_error: TicketLimitError | None = None
    for _attempt in range(10):
        choice = candidates.values_list("pk", "ticket_type_id").first()
        if choice is None:
            break
        locks.member_type_lock(member_id=reservation.member_id, ticket_type_id=choice[1])
        ticket = locks.member_ticket_for_update(choice[0])
        if not _usable(ticket, on=on, today=today, uses=uses):
            continue  # another booking took its uses meanwhile: choose again
        try:
            _check_limits(ticket.ticket_type, member_id=reservation.member_id, on=on, places=uses)
        except TicketLimitError as error:
            # This type's limit is reached: the ticket expiring first among the other types pays instead.
            limit_error = error
            candidates = candidates.exclude(ticket_type_id=ticket.ticket_type_id)
            continue
        updated = MemberTicket.objects.filter(pk=ticket.pk, uses_left__gte=uses).update(
            uses_left=F("uses_left") - uses, updated_at=now
        )
        if updated:
            ticket.refresh_from_db(fields=["uses_left"])
            entry = _entry(ticket, kind=TicketEntry.Kind.USED, delta=-uses, now=now, reservation=reservation)
            audit_log(
                action="ticket.used",
                obj=ticket,
                by=by,
                system=system,
                now=now,
                payload={
                    "reservation": reservation.pk,
                    "changes": {"uses_left": [ticket.uses_left + uses, ticket.uses_left]},
                },
            )
            return entry
    if limit_error is not None:
        raise limit_error
    raise _unusable_error(reservation=reservation, on=on, today=today, uses=uses, ticket_id=ticket_id)


@transaction.atomic
def ticket_restore(*, reservation, by, system: str = "", now: datetime | None = None) -> TicketEntry | None:
    """The booking was cancelled: give back every use it took, one per place (SPEC §6), in one entry of +N.
    A ticket that has expired meanwhile gets the uses back and loses them to expiry in the same transaction,
    so the ledger stays exact. Restoring twice gives back once (the unique constraint on (reservation,
    restored) is the last line)."""
    now = now or timezone.now()
    used = TicketEntry.objects.filter(reservation=reservation, kind=TicketEntry.Kind.USED).first()
    if used is None:
        return None
    uses = -used.delta
    ticket = locks.member_ticket_for_update(used.ticket_id)
    if TicketEntry.objects.filter(reservation=reservation, kind=TicketEntry.Kind.RESTORED).exists():
        return None
    if ticket.status == MemberTicket.Status.REVOKED:
        return None  # the ticket was taken back (its purchase refunded): nothing to give the uses back to
    ticket.uses_left += uses
    ticket.save(update_fields=["uses_left", "updated_at"])
    entry = _entry(
        ticket, kind=TicketEntry.Kind.RESTORED, delta=uses, now=now, reservation=reservation, created_by=by
    )
    payload = {
        "reservation": reservation.pk,
        "changes": {"uses_left": [ticket.uses_left - uses, ticket.uses_left]},
    }
    if ticket.status == MemberTicket.Status.EXPIRED or (
        ticket.valid_through is not None and ticket.valid_through < timezone.localdate(now)
    ):
        _expire(ticket, now=now)
        payload["expired_again"] = True  # past its last day: the uses went back and expired at once
    audit_log(action="ticket.restored", obj=ticket, by=by, system=system, now=now, payload=payload)
    return entry


# --- expiry ------------------------------------------------------------------------------------------------


EXPIRY_JOB = "expire_tickets"


@dataclass(frozen=True)
class ExpiryResult:
    tickets: int
    uses: int


def tickets_expire(
    *, today: date | None = None, dry_run: bool = False, now: datetime | None = None
) -> ExpiryResult:
    """Expire every active ticket whose last valid day is before `today` (JST): its uses left go, with an
    "expired" ledger entry. Idempotent, and catches up on days the job missed (it looks at every ticket
    past its date, not only yesterday's).

    The system job EXPIRY_JOB: each ticket is its own durable transaction (the outermost: the task and the
    command call this directly), and the run writes one audit entry with its counts when it expired
    anything; the ledger's "expired" entries name each ticket."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    due = MemberTicket.objects.filter(status=MemberTicket.Status.ACTIVE, valid_through__lt=today).order_by(
        "pk"
    )
    if dry_run:
        rows = list(due.values_list("uses_left", flat=True))
        return ExpiryResult(tickets=len(rows), uses=sum(rows))
    tickets = uses = 0
    try:
        for ticket_id in list(due.values_list("pk", flat=True)):
            with transaction.atomic(durable=True):
                ticket = locks.member_ticket_for_update(ticket_id)
                if ticket.status != MemberTicket.Status.ACTIVE or not (
                    ticket.valid_through and ticket.valid_through < today
                ):
                    continue
                left = ticket.uses_left
                _expire(ticket, now=now)
                uses += left
                tickets += 1
    finally:
        # Recorded even when the run stops half-way: the tickets expired so far are committed, and the
        # next run will not find them again.
        if tickets:
            with transaction.atomic(durable=True):
                audit_log(
                    action="tickets.expired",
                    obj=None,
                    by=None,
                    system=EXPIRY_JOB,
                    now=now,
                    payload={"tickets": tickets, "uses": uses, "today": today},
                )
    return ExpiryResult(tickets=tickets, uses=uses)


# --- buying ---------------------------------------------------------------------------------------------


def check_purchase_allowed(*, member, ticket_type: TicketType) -> None:
    """The per-member purchase limit (paid purchases not cancelled or refunded), and that the ticket is on
    sale. Checked when the order is made, before the member pays, and again when the payment arrives."""
    if ticket_type.product_id is None or not ticket_type.product.is_active or not ticket_type.is_visible:
        raise TicketError(gettext("This ticket is not on sale."))
    check_purchase_limit(member=member, ticket_type=ticket_type)


def check_purchase_limit(*, member, ticket_type: TicketType) -> None:
    limit = ticket_type.max_purchases_per_member
    if limit and selectors.purchases_count(member_id=member.pk, ticket_type=ticket_type) >= limit:
        raise PurchaseLimitError(
            gettext("You can buy “{name}” at most {limit} time(s), and you have already done so.").format(
                name=ticket_type.name, limit=limit
            )
        )


def domain_message(error: Exception) -> str:
    if isinstance(error, DomainError):
        return str(error.message)
    if isinstance(error, ValidationError):
        return validation_message(error)
    return str(error)
