import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from tickets.services import tickets_expire


class Command(BaseCommand):
    help = (
        "Expire the uses left on every ticket whose last valid day (JST) is before --date (default: today). "
        "Idempotent; catches up on missed days."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The JST date to expire as of, YYYY-MM-DD (default: today).")
        parser.add_argument("--dry-run", action="store_true", help="Only say what would expire.")

    def handle(self, *args, date=None, dry_run=False, **options):
        today = None
        if date:
            try:
                today = _parse(date)
            except ValueError as error:
                raise CommandError(f"--date must be a date as YYYY-MM-DD, got {date!r}.") from error
        result = tickets_expire(today=today, dry_run=dry_run)
        verb = "would expire" if dry_run else "expired"
        self.stdout.write(f"{verb} {result.tickets} ticket(s) ({result.uses} uses)")


def _parse(value: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(value)
    return date.fromisoformat(value)
