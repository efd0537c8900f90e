"""Transaction-scoped advisory locks, for things that are not rows (a member's bookings with one ticket
type). Held until the transaction ends; a wait longer than the timeout becomes a friendly "busy" error."""

from django.db import OperationalError, connection, transaction
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class BusyError(DomainError):
    default_message = _("Many requests are being processed at the moment. Please try again in a moment.")


def advisory_xact_lock(key: str, *, timeout_ms: int = 5000) -> None:
    """Lock `key` (any string; hashed to PostgreSQL's 64-bit lock space) until the transaction ends. A hash
    collision only serialises two unrelated callers, it never lets two holders of one key through."""
    if not connection.in_atomic_block:
        raise RuntimeError("advisory_xact_lock needs a transaction")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(timeout_ms)}ms"])
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
            cursor.execute("SELECT set_config('lock_timeout', '0', true)")
    except OperationalError as error:
        raise BusyError from error
