from celery import shared_task

from payments.services import reconcile_payments


@shared_task(name="payments.tasks.reconcile_payments")
def reconcile_payments_task() -> dict:
    """Beat, every 10 minutes: settle refunds and payments left created / pending against Stripe (a crash
    between our commit and Stripe's answer, a webhook that never came)."""
    from dataclasses import asdict

    return asdict(reconcile_payments())
