"""Celery tasks of tickets: thin, each calls one service."""

from celery import shared_task

from tickets.services import tickets_expire


@shared_task(name="tickets.tasks.expire_tickets")
def expire_tickets() -> dict:
    """Daily (beat, 00:15 JST): expire tickets valid through a day before today (JST). Idempotent."""
    result = tickets_expire()
    return {"tickets": result.tickets, "uses": result.uses}
