"""Celery tasks of tickets: thin, each calls one service."""

from celery import shared_task

from core.jobs import job_run
from tickets import csv_jobs
from tickets.services import tickets_expire


@shared_task(name="tickets.tasks.expire_tickets")
def expire_tickets() -> dict:
    """Daily (beat, 00:15 JST): expire tickets valid through a day before today (JST). Idempotent. The
    service's transactions are durable (one per ticket, and the run's audit entry)."""
    result = tickets_expire()
    return {"tickets": result.tickets, "uses": result.uses}


@shared_task(name="tickets.tasks.export_ticket_types")
def export_ticket_types(job_id: int) -> str:
    """Staff's ticket CSV export (admin → CSVエクスポート → OK): the job row records the file and outcome."""
    return job_run(job_id, csv_jobs.ticket_export_job).status


@shared_task(name="tickets.tasks.import_ticket_types")
def import_ticket_types(job_id: int) -> str:
    """Staff's ticket CSV import, confirmed after the dry-run preview (the input file is validated again)."""
    return job_run(job_id, csv_jobs.ticket_import_job).status
