from django.core.management.base import BaseCommand

from core.commands import add_at_argument, parse_at
from core.jobs import QUEUED_STALE_AFTER, RUNNING_STALE_AFTER, jobs_sweep_stale


class Command(BaseCommand):
    help = (
        "Fail the jobs that can no longer finish: running with no progress for "
        f"{int(RUNNING_STALE_AFTER.total_seconds() // 60)} minutes (the worker was lost), or queued for "
        f"{int(QUEUED_STALE_AFTER.total_seconds() // 3600)} hours (never picked up). Beat runs it every "
        "10 minutes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count them; change nothing.")
        add_at_argument(parser)

    def handle(self, *args, dry_run: bool, at: str | None, **options):
        now = parse_at(at)
        result = jobs_sweep_stale(now=now, dry_run=dry_run)
        verb = "Would fail" if dry_run else "Failed"
        self.stdout.write(
            f"{verb} {result.running} running job(s) with no progress and {result.queued} job(s) never "
            "started."
        )
