from django import template

from core.jobs import job_notifications

register = template.Library()

# How many unread jobs the header lists; the badge counts them all.
SHOWN_IN_HEADER = 5


@register.inclusion_tag("admin/core/job/notifications.html", takes_context=True)
def job_notifications_menu(context) -> dict:
    """The admin header's finished-jobs menu, for the staff user of the request: one query."""
    request = context["request"]
    jobs, unread = job_notifications(request.user, limit=SHOWN_IN_HEADER)
    return {"jobs": jobs, "unread": unread, "more": unread - len(jobs), "next": request.get_full_path()}
