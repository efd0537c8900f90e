from celery import shared_task
from django.conf import settings
from django.core import management
from django.core.mail import EmailMultiAlternatives
from django.utils import translation


@shared_task(name="core.tasks.send_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email(*, subject: str, body: str, to: list[str], html_body: str | None = None) -> None:
    """Deliver one e-mail. Mail goes through the worker so a slow SMTP server never slows a page."""
    message = EmailMultiAlternatives(subject=subject, body=body, to=to)
    if html_body:
        message.attach_alternative(html_body, "text/html")
    message.send()


@shared_task(
    name="core.tasks.send_templated_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def send_templated_email(*, template: str, context: dict, to: list[str], language: str | None = None) -> None:
    """Render an e-mail from its templates in `language` (the one active where it was queued), then
    deliver it: core.emails.queue_email_rendered_by_worker."""
    from core.emails import render_templated_email

    with translation.override(language or settings.LANGUAGE_CODE):
        subject, body = render_templated_email(template=template, context=context)
    send_email(subject=subject, body=body, to=to)


@shared_task(name="core.tasks.clear_expired_sessions")
def clear_expired_sessions() -> None:
    management.call_command("clearsessions")


@shared_task(name="core.tasks.sweep_stale_jobs")
def sweep_stale_jobs() -> dict:
    """Every 10 minutes (beat): fail the jobs whose worker was lost, so staff can start them again."""
    from core.jobs import jobs_sweep_stale

    result = jobs_sweep_stale()
    return {"running": result.running, "queued": result.queued}
