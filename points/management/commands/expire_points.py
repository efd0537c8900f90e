"""失効: expire the points whose last valid day (JST) is before --date (default: today).

    python manage.py expire_points [--date YYYY-MM-DD] [--dry-run]

One "expired" entry per lot (per-record expiry) or per balance (whole-balance expiry); history is never
deleted. Idempotent (a second run the same day expires nothing more) and catches up on missed days. Beat
runs it every night at 00:30 JST (points.tasks.expire_points)."""

import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from points.services import points_expire


class Command(BaseCommand):
    help = (
        "Expire the points whose last valid day (JST) is before --date (default: today). Idempotent; "
        "catches up on missed days."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The JST date to expire as of, YYYY-MM-DD (default: today).")
        parser.add_argument("--dry-run", action="store_true", help="Only say what would expire.")

    def handle(self, *args, date=None, dry_run=False, **options):
        on = None
        if date:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
                raise CommandError(f"--date must be a date as YYYY-MM-DD, got {date!r}.")
            try:
                on = _date(date)
            except ValueError as error:
                raise CommandError(f"--date must be a real date as YYYY-MM-DD, got {date!r}.") from error
        result = points_expire(on=on, dry_run=dry_run)
        verb = "would expire" if dry_run else "expired"
        self.stdout.write(
            f"{verb} {result.points} point(s) in {result.entries} entr{'y' if result.entries == 1 else 'ies'}"
        )


def _date(value: str) -> date:
    return date.fromisoformat(value)
