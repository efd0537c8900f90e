from celery import shared_task

from inventory.services import release_unpaid_reservations


@shared_task(name="inventory.tasks.release_unpaid_reservations")
def release_unpaid_reservations_task() -> int:
    """Beat, every few minutes: cancel tentative reservations whose payment hold ran out."""
    return len(release_unpaid_reservations())
