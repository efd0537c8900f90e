"""Create or update ticket types from a ticket CSV (SPEC §6), recorded as a job.

    python manage.py import_tickets tickets.csv [--dry-run] [--errors errors.csv]

The file may be Shift_JIS/cp932 or UTF-8 (with or without BOM), CRLF or LF. Every row is validated like
the admin form; bad rows are not applied. Prints the counts and each failed row; --errors writes the error
file (the header and each failed row as it was, plus the reason). Exits 1 when any row failed or the file
is not a ticket CSV. --dry-run writes nothing to the tickets.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.csv_pipeline import ImportResult
from core.jobs import job_run
from core.models import Job
from tickets.csv_jobs import TICKETS

SYSTEM = "import_tickets"  # who started the job, in the audit trail


class Command(BaseCommand):
    help = "Create or update ticket types from a ticket CSV (cp932 or UTF-8)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="The CSV file to import.")
        parser.add_argument("--dry-run", action="store_true", help="Check every row; save nothing.")
        parser.add_argument("--errors", type=Path, help="Write the failed rows and their reasons here.")

    def handle(self, *args, path: Path, dry_run: bool, errors: Path | None, **options):
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}") from error
        # Run here rather than by a worker, to print each failed row and write the error file.
        job = TICKETS.import_start(
            by=None, system=SYSTEM, file_name=path.name, data=data, dry_run=dry_run, enqueue=False
        )
        imported: list[ImportResult] = []

        def work(job, progress):
            imported.append(TICKETS.import_run(job, progress))
            return TICKETS.import_outcome(imported[0])

        job = job_run(job.pk, work)
        if job.status == Job.Status.FAILED:
            raise CommandError(f"Job #{job.pk} failed: {job.messages[-1]}")
        result = imported[0]
        prefix = "Dry run, nothing saved. Would have: " if dry_run else ""
        self.stdout.write(
            f"{prefix}created {result.created}, updated {result.updated}, unchanged {result.unchanged}, "
            f"failed {result.failed} (job #{job.pk})."
        )
        for error in result.errors:
            self.stderr.write(error.text)
        if errors is not None:
            error_bytes, problems = result.error_file()
            errors.write_bytes(error_bytes)
            self.stdout.write(f"Wrote {result.failed} failed rows to {errors}.")
            for problem in problems:
                self.stderr.write(problem.message)
        if result.failed:
            raise CommandError(f"{result.failed} rows failed and were not applied.")
