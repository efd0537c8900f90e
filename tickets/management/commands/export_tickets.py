"""Write every ticket type to a ticket CSV (Shift_JIS/cp932, CRLF; SPEC §6), recorded as a job.

    python manage.py export_tickets tickets.csv

Prints how many tickets were written and every character Shift_JIS cannot hold exactly: one written as
its standard Shift_JIS counterpart (〜 as ～, as Windows writes it) is a notice; one lost as "?" (🍣) is an
error, and the command exits 1 after writing the file (see core.csvio).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.csv_pipeline import ExportResult
from core.jobs import job_run
from core.models import Job
from tickets.csv_jobs import TICKETS

SYSTEM = "export_tickets"  # who started the job, in the audit trail


class Command(BaseCommand):
    help = "Export every ticket type to a Shift_JIS (cp932) CSV with CRLF line ends."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="Where to write the CSV file.")

    def handle(self, *args, path: Path, **options):
        # Run here rather than by a worker, to write the file and print what happened.
        job = TICKETS.export_start(by=None, system=SYSTEM, enqueue=False)
        exported: list[ExportResult] = []

        def work(job, progress):
            exported.append(TICKETS.export_run(job, progress))
            return TICKETS.export_outcome(exported[0])

        job = job_run(job.pk, work)
        if job.status == Job.Status.FAILED:
            raise CommandError(f"Job #{job.pk} failed: {job.messages[-1]}")
        result = exported[0]
        path.write_bytes(result.data)
        self.stdout.write(f"Wrote {result.rows} tickets to {path} (job #{job.pk}).")
        for notice in result.notices:
            self.stdout.write(notice.message)
        for loss in result.losses:
            self.stderr.write(loss.message)
        if result.losses:
            raise CommandError(
                f"{len(result.losses)} characters cannot be written in Shift_JIS (listed above); "
                "the file holds “?” for them."
            )
