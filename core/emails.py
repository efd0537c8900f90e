"""Rendering e-mails from templates and handing them to the worker after the transaction commits."""

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from core.tasks import send_email, send_templated_email


def render_templated_email(*, template: str, context: dict) -> tuple[str, str]:
    """The subject (`emails/<template>_subject.txt`, on one line) and body (`emails/<template>.txt`)."""
    context = {"SHOP_NAME": settings.SHOP_NAME, **context}
    subject = "".join(render_to_string(f"emails/{template}_subject.txt", context).splitlines()).strip()
    body = render_to_string(f"emails/{template}.txt", context)
    return subject, body


def queue_templated_email(*, template: str, context: dict, to: list[str]) -> None:
    """Render `emails/<template>_subject.txt` and `emails/<template>.txt` now, send from the worker.

    The message is enqueued only when the surrounding transaction commits, so a rolled-back sign-up
    never sends a link to an account that does not exist.
    """
    subject, body = render_templated_email(template=template, context=context)
    send_email.delay_on_commit(subject=subject, body=body, to=to)


def queue_email_rendered_by_worker(
    *, template: str, context: dict, to: list[str], language: str | None = None
) -> None:
    """Like queue_templated_email, but the worker renders the templates, in `language` (default: the one
    active now): a busy page (the member's booking) spends no time on them.

    `context` travels in the task message, so it holds plain values only (str, int, bool, None, dates and
    aware datetimes, and lists and dicts of them; a template reads `reservation.status` from a dict as from
    a model). It is the snapshot of what the e-mail says as of this transaction: a change made after the
    commit but before the worker runs does not alter it. Enqueued only when the transaction commits."""
    send_templated_email.apply_async_on_commit(
        kwargs={
            "template": template,
            "context": context,
            "to": to,
            "language": language or translation.get_language(),
        },
        # What monitoring shows of the task: the template, not the member's details, and no time spent on
        # Celery's own repr of the context.
        kwargsrepr=repr({"template": template}),
    )
