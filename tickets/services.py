"""Every change to ticket types and to the tickets members hold. Each change to a ticket's uses writes one
ledger entry in the same transaction as the cached `uses_left` (ARCHITECTURE.md, Ledgers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from core.exceptions import DomainError
from core.periods import valid_through_days
from tickets import locks, selectors
from tickets.exceptions import PurchaseLimitError, TicketError, TicketLimitError, TicketUnusableError
from tickets.models import MemberTicket, TicketEntry, TicketType


def validation_message(error: ValidationError) -> str:
    """One line naming each wrong field, for places without a form (CSV rows, commands)."""
    if hasattr(error, "error_dict"):
        parts = []
        for field, errors in error.error_dict.items():
            label = field
            if field != "__all__":
                label = str(TicketType._meta.get_field(field).verbose_name)
            parts.append(
                f"{label}: " + " ".join(str(message) for each in errors for message in each.messages)
            )
        return " / ".join(parts)
    return " ".join(error.messages)


@transaction.atomic
def ticket_type_save(*, ticket_type: TicketType, items=None, stores=None) -> TicketType:
    """Create or update a ticket type after every rule of `TicketType.clean` (the product is fixed once
    set, a free trial's product costs 0 yen, only one-time products, display order ≥ 1, limits ≥ 0).
    Raises ValidationError with the field errors; nothing is saved then."""
    if ticket_type.pk:
        # Serialise edits of one ticket type, so two staff cannot both set its product.
        TicketType.objects.select_for_update().filter(pk=ticket_type.pk).first()
    ticket_type.full_clean()
    ticket_type.save()
    if items is not None:
        ticket_type.items.set(items)
    if stores is not None:
        ticket_type.stores.set(stores)
    return ticket_type


# --- many ticket types at once (the CSV import) ---------------------------------------------------------

# Ticket types written per transaction by TicketTypeBatch: each batch costs about seven queries however
# many rows it holds, and holds its rows' locks until it commits.
BATCH_SIZE = 500
# What an update writes: every stored field staff can edit (so a new field cannot be forgotten), and when.
UPDATED_FIELDS = (
    *(f.name for f in TicketType._meta.concrete_fields if f.editable and not f.primary_key),
    "updated_at",
)


@dataclass(eq=False)
class TicketTypeChange:
    """One ticket type to create (no pk) or update, with its usable items (None: leave them as they are)
    and the file line it came from (named when two lines take one product). After its batch, `error` holds
    why it was refused, or `ticket_type.pk` its ID when it was written."""

    ticket_type: TicketType
    items: list | None = None
    line: int | None = None
    error: ValidationError | None = None


class TicketTypeBatch:
    """Creates and updates many ticket types under exactly the rules of `ticket_type_save`, a few queries
    per batch of BATCH_SIZE instead of a dozen per ticket type: `add` each change, `flush` at the end.

    Each batch is one transaction that
    1. locks the ticket types it updates (in ID order; ticket_type_save takes the same row lock), and
       reads their stored products, the products named and the ticket types holding those products;
    2. checks every change with the model's field checks and `TicketType.rule_errors` (the rules of
       `TicketType.clean`, fed from those reads), and refuses a product another change of the same run
       already took;
    3. writes the changes that passed with one INSERT, one UPDATE … FROM (VALUES …) and the items' rows.
    A refused change gets its `error` and is not written; the rest of its batch is. If the batch's writes
    fail all the same (a product taken by someone else in the meantime breaks the unique constraint), the
    batch is rolled back and its changes saved one by one with ticket_type_save, each getting its own
    answer. With `dry_run` every check runs and nothing is locked or written.
    """

    def __init__(self, *, dry_run: bool = False, size: int | None = None, on_batch: Callable | None = None):
        self.dry_run, self.size, self.on_batch = dry_run, size or BATCH_SIZE, on_batch
        self._pending: list[TicketTypeChange] = []
        # product id → the change taking it, across batches (a dry run's earlier batches wrote nothing).
        self._claimed: dict[int, TicketTypeChange] = {}

    def add(self, change: TicketTypeChange) -> None:
        self._pending.append(change)
        if len(self._pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        created = [change for change in batch if change.ticket_type.pk is None]
        passed: list[TicketTypeChange] = []
        try:
            with transaction.atomic():
                passed = self._check(batch)
                if not self.dry_run:
                    self._write(passed)
        except IntegrityError:
            for change in created:  # the rolled-back insert had given them IDs
                change.ticket_type.pk = None
                change.ticket_type._state.adding = True
            for change in passed:
                self._save_one(change)
        if self.on_batch is not None:
            self.on_batch(len(batch))

    def _check(self, batch: list[TicketTypeChange]) -> list[TicketTypeChange]:
        from payments.models import Product

        ids = sorted({change.ticket_type.pk for change in batch if change.ticket_type.pk})
        stored_query = TicketType.objects.filter(pk__in=ids).order_by("pk")
        if not self.dry_run:
            stored_query = stored_query.select_for_update()
        stored = dict(stored_query.values_list("pk", "product_id")) if ids else {}
        product_ids = {change.ticket_type.product_id for change in batch} - {None}
        products = Product.objects.in_bulk(product_ids) if product_ids else {}
        holders = (
            dict(TicketType.objects.filter(product_id__in=product_ids).values_list("product_id", "pk"))
            if product_ids
            else {}
        )
        passed = []
        for change in batch:
            ticket_type = change.ticket_type
            errors: dict[str, list] = {}
            if ticket_type.pk and ticket_type.pk not in stored:
                errors["id"] = [
                    gettext("There is no ticket with ID %(id)s: it was deleted.") % {"id": ticket_type.pk}
                ]
            if ticket_type.product_id is not None:
                if ticket_type.product_id in products:
                    ticket_type.product = products[ticket_type.product_id]  # as it is now, for its rules
                else:
                    errors["product"] = [gettext("This product was deleted.")]
            try:
                ticket_type.clean_fields(exclude={"product", *errors})
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            stored_product = stored.get(ticket_type.pk)
            takes_product = ticket_type.product_id is not None and ticket_type.product_id != stored_product
            taken_by = self._claimed.get(ticket_type.product_id) if takes_product else None
            rules = ticket_type.rule_errors(
                stored_product_id=stored_product,
                product_holder_id=None if taken_by else holders.get(ticket_type.product_id),
            )
            if taken_by is not None and "product" not in rules:
                rules["product"] = (
                    gettext("Line %(line)s of this file already uses this product.") % {"line": taken_by.line}
                    if taken_by.line is not None
                    else gettext("This product is already the product of another ticket.")
                )
            for field, message in rules.items():
                errors.setdefault(field, [message])
            if errors:
                change.error = ValidationError(errors)
                continue
            if takes_product:
                self._claimed[ticket_type.product_id] = change
            passed.append(change)
        return passed

    @staticmethod
    def _write(passed: list[TicketTypeChange]) -> None:
        now = timezone.now()
        new = [change.ticket_type for change in passed if change.ticket_type.pk is None]
        old = [change.ticket_type for change in passed if change.ticket_type.pk is not None]
        TicketType.objects.bulk_create(new)
        for ticket_type in old:
            ticket_type.updated_at = now
        _update_all(old)
        through = TicketType.items.through
        replaced = [change.ticket_type.pk for change in passed if change.items is not None]
        if replaced:
            through.objects.filter(tickettype_id__in=replaced).delete()
        through.objects.bulk_create(
            [
                through(tickettype_id=change.ticket_type.pk, item_id=item.pk)
                for change in passed
                if change.items is not None
                for item in change.items
            ]
        )

    @staticmethod
    def _save_one(change: TicketTypeChange) -> None:
        is_new = change.ticket_type.pk is None
        try:
            ticket_type_save(ticket_type=change.ticket_type, items=change.items)
        except ValidationError as error:
            change.error = error
        except IntegrityError:
            if is_new:
                change.ticket_type.pk = None
                change.ticket_type._state.adding = True
            change.error = ValidationError(
                gettext("Someone else changed this ticket or its product at the same moment. Try again.")
            )


def _update_all(ticket_types: list[TicketType]) -> None:
    """One UPDATE … FROM (VALUES …) writing UPDATED_FIELDS of every ticket type given. (Django's
    bulk_update writes a CASE with a branch per row for each column, which PostgreSQL evaluates row by row:
    for batches of 500 that is quadratic, 7x slower than this join over 20,000 rows.)"""
    if not ticket_types:
        return
    fields = [TicketType._meta.get_field(name) for name in UPDATED_FIELDS]
    quote = connection.ops.quote_name
    casts = [f"%s::{TicketType._meta.pk.db_type(connection)}"]
    casts += [f"%s::{field.db_type(connection)}" for field in fields]
    row = "(" + ", ".join(casts) + ")"
    params: list = []
    for ticket_type in ticket_types:
        params.append(ticket_type.pk)
        params += [
            field.get_db_prep_save(getattr(ticket_type, field.attname), connection) for field in fields
        ]
    columns = [quote(field.column) for field in fields]
    table = quote(TicketType._meta.db_table)
    assignments = ", ".join(f"{column} = v.{column}" for column in columns)
    values = ", ".join([row] * len(ticket_types))
    # Only the model's own quoted table and column names are formatted in; every value is a parameter.
    sql = f"UPDATE {table} AS t SET {assignments} FROM (VALUES {values}) AS v(id, {', '.join(columns)}) WHERE t.id = v.id"  # noqa: E501, S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


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
    by=None,
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
    ticket.uses_left += delta
    ticket.uses_total += delta
    ticket.save(update_fields=["uses_left", "uses_total", "updated_at"])
    _entry(
        ticket, kind=TicketEntry.Kind.MANUAL, delta=delta, now=now, created_by=by, reason=reason.strip()[:200]
    )
    return ticket


@transaction.atomic
def ticket_revoke(
    *, ticket: MemberTicket, by=None, reason: str, order_line=None, now: datetime | None = None
):
    """Take a ticket back (its purchase was cancelled or refunded): the uses left go, uses already made
    stay made. Taking back a ticket twice changes nothing the second time."""
    now = now or timezone.now()
    ticket = locks.member_ticket_for_update(ticket.pk)
    if ticket.status == MemberTicket.Status.REVOKED:
        return ticket
    taken = ticket.uses_left
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
    return ticket


def _expire(ticket: MemberTicket, *, now: datetime) -> None:
    """Under the ticket's lock: record the expiry of whatever uses are left."""
    taken = ticket.uses_left
    ticket.uses_left = 0
    ticket.status = MemberTicket.Status.EXPIRED
    ticket.save(update_fields=["uses_left", "status", "updated_at"])
    _entry(ticket, kind=TicketEntry.Kind.EXPIRED, delta=-taken, now=now)


# --- paying bookings -------------------------------------------------------------------------------------


def _check_limits(ticket_type: TicketType, *, member_id: int, on: date) -> None:
    if not (ticket_type.max_concurrent or ticket_type.max_concurrent_per_day):
        return
    live = selectors.live_reservations_with_type(member_id=member_id, ticket_type_id=ticket_type.pk)
    if ticket_type.max_concurrent and live.count() >= ticket_type.max_concurrent:
        raise TicketLimitError(
            gettext(
                "With “{name}” you can hold at most {limit} reservations at once. "
                "Please use or cancel one of them first."
            ).format(name=ticket_type.name, limit=ticket_type.max_concurrent)
        )
    if ticket_type.max_concurrent_per_day:
        same_day = sum(
            1 for starts_at in live.values_list("starts_at", flat=True) if timezone.localdate(starts_at) == on
        )
        if same_day >= ticket_type.max_concurrent_per_day:
            raise TicketLimitError(
                gettext("With “{name}” you can hold at most {limit} reservations on one day.").format(
                    name=ticket_type.name, limit=ticket_type.max_concurrent_per_day
                )
            )


def _usable(ticket: MemberTicket, *, on: date, today: date) -> bool:
    return (
        ticket.status == MemberTicket.Status.ACTIVE
        and ticket.uses_left >= 1
        and ticket.is_valid_on(on)
        and ticket.is_valid_on(today)
    )


@transaction.atomic
def ticket_use(*, reservation, ticket_id: int | None = None, now: datetime | None = None) -> TicketEntry:
    """Take one use for `reservation` (inside its booking transaction): the member's chosen ticket, or the
    one that expires first. Enforces the ticket type's two concurrency limits under a lock on (member,
    ticket type), and takes the use under the ticket's row lock, so parallel bookings cannot overspend.
    Lock order: the advisory lock, then the ticket row (the candidate is chosen without locking)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    on = timezone.localdate(reservation.starts_at)
    candidates = selectors.usable_tickets(
        member=reservation.member, item=reservation.item, on=on, today=today
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
        if not _usable(ticket, on=on, today=today):
            continue  # another booking took its last use meanwhile: choose again
        try:
            _check_limits(ticket.ticket_type, member_id=reservation.member_id, on=on)
        except TicketLimitError as error:
            # This type's limit is reached: the ticket expiring first among the other types pays instead.
            limit_error = error
            candidates = candidates.exclude(ticket_type_id=ticket.ticket_type_id)
            continue
        updated = MemberTicket.objects.filter(pk=ticket.pk, uses_left__gte=1).update(
            uses_left=F("uses_left") - 1, updated_at=now
        )
        if updated:
            ticket.refresh_from_db(fields=["uses_left"])
            return _entry(ticket, kind=TicketEntry.Kind.USED, delta=-1, now=now, reservation=reservation)
    if limit_error is not None:
        raise limit_error
    if ticket_id is not None:
        raise TicketUnusableError(
            gettext("The ticket you chose cannot pay for this booking (used up, expired or not valid here).")
        )
    raise TicketUnusableError


@transaction.atomic
def ticket_restore(*, reservation, now: datetime | None = None, by=None) -> TicketEntry | None:
    """The booking was cancelled: give its use back (SPEC §6). A ticket that has expired meanwhile gets the
    use back and loses it to expiry in the same transaction, so the ledger stays exact. Restoring twice
    gives back once (the unique constraint on (reservation, restored) is the last line)."""
    now = now or timezone.now()
    used = TicketEntry.objects.filter(reservation=reservation, kind=TicketEntry.Kind.USED).first()
    if used is None:
        return None
    ticket = locks.member_ticket_for_update(used.ticket_id)
    if TicketEntry.objects.filter(reservation=reservation, kind=TicketEntry.Kind.RESTORED).exists():
        return None
    if ticket.status == MemberTicket.Status.REVOKED:
        return None  # the ticket was taken back (its purchase refunded): nothing to give the use back to
    ticket.uses_left += 1
    ticket.save(update_fields=["uses_left", "updated_at"])
    entry = _entry(
        ticket, kind=TicketEntry.Kind.RESTORED, delta=1, now=now, reservation=reservation, created_by=by
    )
    if ticket.status == MemberTicket.Status.EXPIRED or (
        ticket.valid_through is not None and ticket.valid_through < timezone.localdate(now)
    ):
        _expire(ticket, now=now)
    return entry


# --- expiry ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryResult:
    tickets: int
    uses: int


def tickets_expire(
    *, today: date | None = None, dry_run: bool = False, now: datetime | None = None
) -> ExpiryResult:
    """Expire every active ticket whose last valid day is before `today` (JST): its uses left go, with an
    "expired" ledger entry. Idempotent, and catches up on days the job missed (it looks at every ticket
    past its date, not only yesterday's)."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    due = MemberTicket.objects.filter(status=MemberTicket.Status.ACTIVE, valid_through__lt=today).order_by(
        "pk"
    )
    if dry_run:
        rows = list(due.values_list("uses_left", flat=True))
        return ExpiryResult(tickets=len(rows), uses=sum(rows))
    tickets = uses = 0
    for ticket_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            ticket = locks.member_ticket_for_update(ticket_id)
            if ticket.status != MemberTicket.Status.ACTIVE or not (
                ticket.valid_through and ticket.valid_through < today
            ):
                continue
            uses += ticket.uses_left
            tickets += 1
            _expire(ticket, now=now)
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
