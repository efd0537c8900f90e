"""Celery tasks of plans: thin, each calls one service."""

from celery import shared_task
from django.utils import timezone

from core import periods
from core.jobs import job_run
from plans import grants


@shared_task(name="plans.tasks.grant_monthly_tickets")
def grant_monthly_tickets() -> str:
    """Beat, 00:05 JST on the 1st: the month's monthly and carry-over grants (and any month missed since
    the last successful run), recorded as a job in the job history. Its month is the Tokyo date's."""
    month = periods.month_start(timezone.localdate())
    job = grants.grants_job_create(month=month)
    return job_run(job.pk, grants.grants_job).status
