from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

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
        parser.add_argument(
            "--at",
            help="Treat this as the current time (ISO 8601, JST when no offset), e.g. 2026-11-23T10:00.",
        )

    def handle(self, *args, dry_run: bool, at: str | None, **options):
        now = timezone.now()
        if at:
            try:
                parsed = datetime.fromisoformat(at)
            except ValueError:
                raise CommandError(
                    f"--at: {at!r} is not an ISO 8601 date-time such as 2026-11-23T10:00"
                ) from None
            now = parsed if parsed.tzinfo else timezone.make_aware(parsed)
        result = jobs_sweep_stale(now=now, dry_run=dry_run)
        verb = "Would fail" if dry_run else "Failed"
        self.stdout.write(
            f"{verb} {result.running} running job(s) with no progress and {result.queued} job(s) never "
            "started."
        )
