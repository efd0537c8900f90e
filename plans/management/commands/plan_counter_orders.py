"""The pending counter orders of a month for the plan contracts paid at the counter, as beat makes them:

    python manage.py plan_counter_orders --month 2027-04 [--dry-run]

--month defaults to this month (JST). Each contract gets one order per month however often it runs.
--dry-run lists the contracts that would get one and writes nothing.
"""

import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core import periods
from plans import contracts


class Command(BaseCommand):
    help = "Make the month's pending counter orders of the plan contracts paid at the counter (once each)."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="The month, YYYY-MM (default: this month, JST).")
        parser.add_argument("--dry-run", action="store_true", help="List what would be made; write nothing.")

    def handle(self, *args, month=None, dry_run=False, **options):
        month = _parse_month(month) if month else periods.month_start(timezone.localdate())
        if dry_run:
            due = list(contracts.counter_orders_due(month))
            for contract in due:
                monthly = contract.plan.monthly_product
                self.stdout.write(
                    f"  #{contract.pk} {contract.member.email}: {monthly.name} {monthly.price_yen} yen"
                )
            self.stdout.write(f"would make {len(due)} order(s) for {month:%Y-%m}")
            return
        made = contracts.counter_orders_create(month=month)
        self.stdout.write(f"made {len(made)} order(s) for {month:%Y-%m}")


def _parse_month(value: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}", value):
        raise CommandError(f"--month must be a month as YYYY-MM, got {value!r}.")
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError as error:
        raise CommandError(f"--month must be a month as YYYY-MM, got {value!r}.") from error
