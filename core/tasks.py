from celery import shared_task
from django.core import management
from django.core.mail import EmailMultiAlternatives


@shared_task(name="core.tasks.send_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email(*, subject: str, body: str, to: list[str], html_body: str | None = None) -> None:
    """Deliver one e-mail. Mail goes through the worker so a slow SMTP server never slows a page."""
    message = EmailMultiAlternatives(subject=subject, body=body, to=to)
    if html_body:
        message.attach_alternative(html_body, "text/html")
    message.send()


@shared_task(name="core.tasks.clear_expired_sessions")
def clear_expired_sessions() -> None:
    management.call_command("clearsessions")


@shared_task(name="core.tasks.sweep_stale_jobs")
def sweep_stale_jobs() -> dict:
    """Every 10 minutes (beat): fail the jobs whose worker was lost, so staff can start them again."""
    from core.jobs import jobs_sweep_stale

    result = jobs_sweep_stale()
    return {"running": result.running, "queued": result.queued}
