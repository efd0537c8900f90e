"""Mark ended the contracts paid at the counter whose end date has passed, as beat does nightly:

    python manage.py end_past_contracts [--date YYYY-MM-DD] [--dry-run]

--date: the day to look from (default today, JST): contracts whose last day is before it. --dry-run lists
them and changes nothing. A contract with a Stripe subscription is ended by the subscription's webhook.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from plans import contracts


class Command(BaseCommand):
    help = "Mark ended the plan contracts without a subscription whose end date has passed."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="day", help="The day to look from, YYYY-MM-DD (default today).")
        parser.add_argument("--dry-run", action="store_true", help="List what would end; change nothing.")

    def handle(self, *args, day=None, dry_run=False, **options):
        today = _parse_day(day) if day else timezone.localdate()
        if dry_run:
            due = list(contracts.contracts_past_end(today=today))
            for contract in due:
                self.stdout.write(
                    f"  #{contract.pk} {contract.member.email}: {contract.plan.name}, "
                    f"last day {contract.ends_on:%Y-%m-%d}"
                )
            self.stdout.write(f"would end {len(due)} contract(s) as of {today:%Y-%m-%d}")
            return
        ended = contracts.contracts_end_past(today=today)
        self.stdout.write(f"ended {len(ended)} contract(s) as of {today:%Y-%m-%d}")


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--date must be a day as YYYY-MM-DD, got {value!r}.") from error
