from celery import shared_task

from inventory.services import decline_overdue_approvals, release_unpaid_reservations


@shared_task(name="inventory.tasks.release_unpaid_reservations")
def release_unpaid_reservations_task() -> int:
    """Beat, every few minutes: cancel tentative reservations whose payment hold ran out."""
    return len(release_unpaid_reservations())


@shared_task(name="inventory.tasks.decline_overdue_approvals")
def decline_overdue_approvals_task() -> int:
    """Beat, every few minutes: decline bookings whose approval deadline passed without a decision."""
    return len(decline_overdue_approvals())
