"""The Stripe price switches of plan changes now due, as beat makes them daily:

    python manage.py switch_plan_prices [--dry-run [--date YYYY-MM-DD]]

A real run is always for today (JST): switching on a later date's terms would bill the new price early.
--dry-run lists the changes due (on --date, default today) and sends nothing. The run is recorded in the job
history; a change Stripe refuses stays pending for the next run.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.jobs import job_run
from core.models import Job
from payments.gateway import using_test_gateway
from plans import price_switches


class Command(BaseCommand):
    help = "Switch Stripe's price of the plan changes whose first billed 1st is the next 1st."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what is due; send nothing.")
        parser.add_argument(
            "--date", dest="day", help="With --dry-run: the day to look from, YYYY-MM-DD (default today)."
        )

    def handle(self, *args, dry_run=False, day=None, **options):
        if day and not dry_run:
            raise CommandError("--date only goes with --dry-run: a real run switches what is due today.")
        today = _parse_day(day) if day else timezone.localdate()
        due = price_switches.price_switches_due(today=today)
        if dry_run:
            for contract in due:
                monthly = contract.plan.monthly_product
                self.stdout.write(
                    f"  #{contract.pk} {contract.member.email}: {monthly.name} {monthly.price_yen} yen, "
                    f"billed from {price_switches.billed_from(contract.starts_on):%Y-%m-%d}"
                )
            self.stdout.write(f"would switch {len(due)} price(s) on {today:%Y-%m-%d}")
            return
        if using_test_gateway():
            raise CommandError("No Stripe keys (the test gateway): nothing to switch.")
        job = job_run(price_switches.price_switch_job_create(today=today).pk, price_switches.price_switch_job)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError("; ".join(job.messages) or job.status)
        self.stdout.write(f"switched {job.counts.get('plan_price_switches', 0)} price(s)")


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--date must be a day as YYYY-MM-DD, got {value!r}.") from error
