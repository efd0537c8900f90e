"""Ticket types (在庫管理 > チケット管理): one saved through the admin form, or many through the CSV import,
under the same rules (`TicketType.clean()` / `TicketType.rule_errors()`). A single save writes an audit entry
naming who saved it and what changed; the import records one entry for its run (tickets.csv_jobs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils.translation import gettext

from core.audit import audit_log
from core.bulk import bulk_insert, bulk_update, insert_values
from tickets.models import TicketType


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


# The stored fields an audit entry compares (what staff can edit).
AUDITED_FIELDS = tuple(
    f.attname for f in TicketType._meta.concrete_fields if f.editable and not f.primary_key
)


@transaction.atomic
def ticket_type_save(*, ticket_type: TicketType, by, system: str = "", items=None, stores=None) -> TicketType:
    """Create or update a ticket type after every rule of `TicketType.clean` (the product is fixed once
    set, a free trial's product costs 0 yen, only one-time products, display order ≥ 1, limits ≥ 0).
    Raises ValidationError with the field errors; nothing is saved then. Records who saved it and the
    fields that changed (old → new)."""
    is_new = ticket_type.pk is None
    stored = _write(ticket_type, items=items, stores=stores)
    changes = {
        name: [stored.get(name), getattr(ticket_type, name)]
        for name in AUDITED_FIELDS
        if is_new or stored.get(name) != getattr(ticket_type, name)
    }
    if items is not None:
        changes["items"] = [stored.get("items"), sorted(ticket_type.items.values_list("pk", flat=True))]
    if stores is not None:
        changes["stores"] = [stored.get("stores"), sorted(ticket_type.stores.values_list("pk", flat=True))]
    changes = {name: change for name, change in changes.items() if is_new or change[0] != change[1]}
    audit_log(
        action="ticket_type.created" if is_new else "ticket_type.changed",
        obj=ticket_type,
        by=by,
        system=system,
        payload={"changes": changes},
    )
    return ticket_type


def _write(ticket_type: TicketType, *, items=None, stores=None) -> dict:
    """The save itself (no audit entry: the import's row-by-row fallback records its run once). Returns the
    stored values before the save, {} for a new ticket type."""
    stored: dict = {}
    if ticket_type.pk:
        # Serialise edits of one ticket type, so two staff cannot both set its product.
        row = TicketType.objects.select_for_update().filter(pk=ticket_type.pk).values(*AUDITED_FIELDS).first()
        stored = row or {}
        if row is not None and items is not None:
            stored["items"] = sorted(
                TicketType.items.through.objects.filter(tickettype_id=ticket_type.pk).values_list(
                    "item_id", flat=True
                )
            )
        if row is not None and stores is not None:
            stored["stores"] = sorted(
                TicketType.stores.through.objects.filter(tickettype_id=ticket_type.pk).values_list(
                    "store_id", flat=True
                )
            )
    if ticket_type.product_id is not None:
        # The product's row too, as product_save locks it: a product edit and a ticket type taking that
        # product are checked one after the other, so a free trial's product cannot be priced meanwhile.
        locked = _products_for_update([ticket_type.product_id]).get(ticket_type.product_id)
        if locked is not None:  # (deleted meanwhile: full_clean says so)
            ticket_type.product = locked
    ticket_type.full_clean()
    ticket_type.save()
    if items is not None:
        ticket_type.items.set(items)
    if stores is not None:
        ticket_type.stores.set(stores)
    return stored


def _products_for_update(product_ids) -> dict:
    from payments.models import Product

    rows = Product.objects.select_for_update().filter(pk__any=product_ids).order_by("pk")
    return {product.pk: product for product in rows}


# --- many ticket types at once (the CSV import) ---------------------------------------------------------

# Ticket types written per transaction by TicketTypeBatch: each batch costs about seven queries however
# many rows it holds, and holds its rows' locks until it commits.
BATCH_SIZE = 1000
DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE
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
        # product id → the file line of the change taking it, across batches (a dry run's earlier batches
        # wrote nothing). Only the line: holding the changes would keep every row of the file in memory.
        self._claimed: dict[int, int | None] = {}

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
            # Durable: each batch is an outermost transaction of the import (its job, task or command).
            with transaction.atomic(durable=True):
                passed = self._check(batch)
                if not self.dry_run:
                    self._write(passed)
        except (IntegrityError, OperationalError) as error:
            # A racing writer took a product this batch inserts (the unique constraint), or two imports
            # inserting the same products in opposite orders deadlocked (PostgreSQL aborts one of them):
            # both are settled row by row, each row in its own short transaction.
            if isinstance(error, OperationalError) and not _is_deadlock(error):
                raise
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
        stored_query = TicketType.objects.filter(pk__any=ids).order_by("pk")
        if not self.dry_run:
            stored_query = stored_query.select_for_update()
        stored = dict(stored_query.values_list("pk", "product_id")) if ids else {}
        product_ids = {change.ticket_type.product_id for change in batch} - {None}
        # Locked in a real run (as product_save locks a product), so no product edit slips between the
        # rules checked here and the write.
        if not product_ids:
            products = {}
        elif self.dry_run:
            products = {product.pk: product for product in Product.objects.filter(pk__any=product_ids)}
        else:
            products = _products_for_update(product_ids)
        holders = (
            dict(TicketType.objects.filter(product_id__any=product_ids).values_list("product_id", "pk"))
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
            claimed = takes_product and ticket_type.product_id in self._claimed
            rules = ticket_type.rule_errors(
                stored_product_id=stored_product,
                product_holder_id=None if claimed else holders.get(ticket_type.product_id),
            )
            if claimed and "product" not in rules:
                taken_line = self._claimed[ticket_type.product_id]
                rules["product"] = (
                    gettext("Line %(line)s of this file already uses this product.") % {"line": taken_line}
                    if taken_line is not None
                    else gettext("This product is already the product of another ticket.")
                )
            for field, message in rules.items():
                errors.setdefault(field, [message])
            if errors:
                change.error = ValidationError(errors)
                continue
            if takes_product:
                self._claimed[ticket_type.product_id] = change.line
            passed.append(change)
        return passed

    @staticmethod
    def _write(passed: list[TicketTypeChange]) -> None:
        """One INSERT for the new ticket types, one UPDATE for the changed ones (core.bulk), and their
        items: the replaced ones deleted, the new ones inserted."""
        new = [change.ticket_type for change in passed if change.ticket_type.pk is None]
        changed = [change for change in passed if change.ticket_type.pk is not None]
        bulk_insert(TicketType, new)
        bulk_update(TicketType, [change.ticket_type for change in changed], UPDATED_FIELDS)
        through = TicketType.items.through
        replaced = [change.ticket_type.pk for change in changed if change.items is not None]
        if replaced:
            through.objects.filter(tickettype_id__any=replaced).delete()
        insert_values(
            through,
            ["tickettype", "item"],
            [
                (change.ticket_type.pk, item.pk)
                for change in passed
                if change.items is not None
                for item in change.items
            ],
        )

    @staticmethod
    def _save_one(change: TicketTypeChange) -> None:
        """One row in its own transaction. A unique-constraint failure (or deadlock) means another writer
        committed the same product just now: the row is tried once more, when the rules see that writer's
        row and say precisely why it is refused."""
        is_new = change.ticket_type.pk is None
        for attempt in range(2):
            try:
                with transaction.atomic():
                    _write(change.ticket_type, items=change.items)
                return
            except ValidationError as error:
                change.error = error
                return
            except (IntegrityError, OperationalError) as error:
                if isinstance(error, OperationalError) and not _is_deadlock(error):
                    raise
                if is_new:
                    change.ticket_type.pk = None
                    change.ticket_type._state.adding = True
                if attempt:
                    change.error = ValidationError(
                        gettext(
                            "Someone else changed this ticket or its product at the same moment. Try again."
                        )
                    )


def _is_deadlock(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == DEADLOCK_DETECTED
