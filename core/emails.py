"""Rendering e-mails from templates and handing them to the worker after the transaction commits."""

from django.conf import settings
from django.template.loader import render_to_string

from core.tasks import send_email


def queue_templated_email(*, template: str, context: dict, to: list[str]) -> None:
    """Render `emails/<template>_subject.txt` and `emails/<template>.txt` now, send from the worker.

    The message is enqueued only when the surrounding transaction commits, so a rolled-back sign-up
    never sends a link to an account that does not exist.
    """
    context = {"SHOP_NAME": settings.SHOP_NAME, **context}
    subject = "".join(render_to_string(f"emails/{template}_subject.txt", context).splitlines()).strip()
    body = render_to_string(f"emails/{template}.txt", context)
    send_email.delay_on_commit(subject=subject, body=body, to=to)
