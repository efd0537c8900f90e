"""Celery tasks of plans: thin, each calls one service."""

from datetime import timedelta

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


@shared_task(name="plans.tasks.run_grant_job")
def run_grant_job(job_id: int) -> str:
    """A grant run staff started (grants.grants_job_create(month=, started_by=), then
    `run_grant_job.delay_on_commit(job.pk)`): they are notified in the header when it finishes."""
    return job_run(job_id, grants.grants_job).status


@shared_task(name="plans.tasks.plan_counter_orders")
def plan_counter_orders() -> int:
    """Beat, 00:10 JST on the 1st: this month's pending counter orders of the contracts paid at the counter,
    and last month's if a run was missed (one per contract and month, however often it runs)."""
    from plans import contracts

    month = periods.month_start(timezone.localdate())
    previous = periods.month_start(month - timedelta(days=1))
    return sum(len(contracts.counter_orders_create(month=each)) for each in (previous, month))


@shared_task(name="plans.tasks.switch_plan_prices")
def switch_plan_prices() -> str:
    """Beat, daily 04:00 JST (well after Stripe made the 1st's invoices at 00:00): the Stripe price switches
    of plan changes now due (plans.price_switches), recorded as a job when there is one to make or an earlier
    run failed. A refused switch fails the job and is tried again the next day. No Stripe keys (the test
    gateway): nothing is sent."""
    from payments.gateway import using_test_gateway
    from plans import price_switches

    if using_test_gateway():
        return "no Stripe keys"
    today = timezone.localdate()
    if not price_switches.needs_run(today=today):
        return "nothing due"
    job = price_switches.price_switch_job_create(today=today)
    return job_run(job.pk, price_switches.price_switch_job).status


@shared_task(name="plans.tasks.end_past_contracts")
def end_past_contracts() -> int:
    """Beat, daily 00:20 JST: contracts paid at the counter (no Stripe subscription to end them) whose end
    date has passed are marked ended."""
    from plans import contracts

    return len(contracts.contracts_end_past())
