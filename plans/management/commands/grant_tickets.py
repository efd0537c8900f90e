"""The 1st-of-the-month ticket grants of plans (monthly and carry-over), as beat runs them, recorded as a
job in the job history:

    python manage.py grant_tickets --month 2027-04 [--dry-run]

--month defaults to this month (JST). The run also grants the months missed since the last successful run
(plans.grants.months_to_grant). --dry-run prints what would be granted, with the counts per rule, and
writes nothing (no job either).
"""

import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core import periods
from core.jobs import job_run
from core.models import Job
from plans import grants


class Command(BaseCommand):
    help = (
        "Grant the monthly and carry-over tickets of plans for a month (exactly once per contract and rule)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", help="The month to grant, YYYY-MM (default: this month, JST).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be granted, per rule; write nothing."
        )

    def handle(self, *args, month=None, dry_run=False, **options):
        month = _parse_month(month) if month else periods.month_start(timezone.localdate())
        if dry_run:
            preview = grants.grants_preview(month)
            self.stdout.write(
                f"would grant for {month:%Y-%m} (months {', '.join(f'{m:%Y-%m}' for m in preview.months)}), "
                f"granted on {preview.granted_on:%Y-%m-%d}:"
            )
            for row in preview.rows:
                self.stdout.write(
                    f"  {row.month:%Y-%m} contract #{row.contract_id} {row.member_email}: {row.rule} "
                    f"× {row.quantity}"
                )
            for label, count in preview.counts.items():
                self.stdout.write(f"{label}: {count} ticket(s)")
            self.stdout.write(f"would grant {sum(preview.counts.values())} ticket(s)")
            return
        try:
            grants._check_month(month, today=timezone.localdate())
        except grants.GrantError as error:
            raise CommandError(str(error.message)) from error
        job = job_run(grants.grants_job_create(month=month).pk, grants.grants_job)
        if job.status == Job.Status.FAILED:
            raise CommandError(f"Job #{job.pk} failed: {job.messages[-1]}")
        for message in job.messages:
            self.stdout.write(message)
        for label, count in job.counts.items():
            if label not in grants.COUNT_LABELS:
                self.stdout.write(f"{label}: {count} ticket(s)")
        self.stdout.write(f"granted {job.counts.get('plan_tickets', 0)} ticket(s) (job #{job.pk})")


def _parse_month(value: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}", value):
        raise CommandError(f"--month must be a month as YYYY-MM, got {value!r}.")
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError as error:
        raise CommandError(f"--month must be a month as YYYY-MM, got {value!r}.") from error
