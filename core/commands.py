"""Arguments shared by the ops commands (management/commands/), so each reads them the same way."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import CommandError
from django.utils import timezone


def add_at_argument(parser) -> None:
    parser.add_argument(
        "--at",
        help="Treat this as the current time (ISO 8601, JST when no offset), e.g. 2026-11-23T10:00.",
    )


def parse_at(value: str | None) -> datetime:
    """The --at time, aware (JST when it has no offset), or now when not given."""
    if not value:
        return timezone.now()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--at: {value!r} is not an ISO 8601 date-time such as 2026-11-23T10:00") from None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)
