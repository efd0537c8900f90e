"""Celery tasks of points: thin, each calls one service."""

from celery import shared_task

from points.services import points_expire


@shared_task(name="points.tasks.expire_points")
def expire_points() -> dict:
    """Nightly (beat, 00:30 JST): points valid through a day before today (JST) expire. Idempotent, and it
    catches up on days it missed. Each member is its own durable transaction; one audit entry per run."""
    result = points_expire()
    return {"entries": result.entries, "points": result.points}
