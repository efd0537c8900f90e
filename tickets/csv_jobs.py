"""The ticket CSV (SPEC §6) as jobs: the ticket format (tickets.resources) on the core CSV pipeline
(core.csv_pipeline, core.csv_jobs). Views, tasks and commands call these.

    export_ticket_types(progress=None) -> ExportResult        the cp932 CRLF file and what it could not hold
    import_ticket_types(data, dry_run=…, progress=None) -> ImportResult
    TICKETS.export_start / import_start / import_from_check  the jobs (core.csv_jobs.CsvJobs)
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.csv_jobs import CsvJobs, CsvLabels
from core.csv_pipeline import ExportResult, ImportResult
from core.jobs import JobProgress
from tickets.models import TicketType
from tickets.resources import TicketCsvFormat

TICKETS = CsvJobs(
    TicketCsvFormat,
    kind="tickets",
    audit="ticket_types",
    model=TicketType,
    labels=CsvLabels(
        export=_("Ticket CSV export"),
        import_=_("Ticket CSV import"),
        dry_run=_("Ticket CSV import (dry run)"),
    ),
    tasks="tickets.tasks",
    export_task="export_ticket_types",
    import_task="import_ticket_types",
)
EXPORT_KIND = TICKETS.export_kind
IMPORT_KIND = TICKETS.import_kind


def export_ticket_types(progress: JobProgress | None = None) -> ExportResult:
    """Every ticket type in ID order, in the columns of SPEC §6."""
    return TICKETS.export(progress)


def import_ticket_types(data: bytes, *, dry_run: bool, progress: JobProgress | None = None) -> ImportResult:
    """Create (empty チケットID) or update ticket types from a ticket CSV; see tickets.resources for how each
    column reads. Raises CsvFileError when the file as a whole is not a ticket CSV (nothing is written
    then). Otherwise every good row is applied (unless `dry_run`) and every bad row is reported."""
    return TICKETS.import_(data, dry_run=dry_run, progress=progress)


# The job functions core.jobs.job_run runs (the tasks, the commands and the tests call them by these names).
ticket_export_job = TICKETS.export_job
ticket_import_job = TICKETS.import_job
ticket_export_start = TICKETS.export_start
ticket_import_start = TICKETS.import_start


def ticket_import_check_start(*, by, file_name: str, data: bytes, system: str = "", enqueue: bool = True):
    """A dry-run import as a job (a file too long to check while the browser waits)."""
    return TICKETS.import_start(
        by=by, file_name=file_name, data=data, dry_run=True, system=system, enqueue=enqueue
    )
