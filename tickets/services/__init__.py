"""Every change to ticket types and to the tickets members hold (ARCHITECTURE.md: services), in three
modules: `ticket_types` (the admin form's save and the CSV import's batches), `wallet` (the tickets
members hold and their ledger) and `purchases` (the order for a ticket). Callers import from here."""

from tickets.services.purchases import ticket_purchase_start
from tickets.services.ticket_types import (
    BATCH_SIZE,
    UPDATED_FIELDS,
    TicketTypeBatch,
    TicketTypeChange,
    ticket_type_save,
    validation_message,
)
from tickets.services.wallet import (
    EXPIRY_JOB,
    ExpiryResult,
    check_purchase_allowed,
    check_purchase_limit,
    domain_message,
    ticket_adjust,
    ticket_hand_out,
    ticket_issue,
    ticket_restore,
    ticket_revoke,
    ticket_use,
    tickets_expire,
)

__all__ = [
    "BATCH_SIZE",
    "EXPIRY_JOB",
    "UPDATED_FIELDS",
    "ExpiryResult",
    "TicketTypeBatch",
    "TicketTypeChange",
    "check_purchase_allowed",
    "check_purchase_limit",
    "domain_message",
    "ticket_adjust",
    "ticket_hand_out",
    "ticket_issue",
    "ticket_purchase_start",
    "ticket_restore",
    "ticket_revoke",
    "ticket_type_save",
    "ticket_use",
    "tickets_expire",
    "validation_message",
]
