"""The audit trail on each object's history page (templates/admin/object_history.html)."""

from django import template
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.urls import reverse
from django.utils.http import urlencode

from core import audit_display
from core.audit import action_label
from core.models import AuditEntry

register = template.Library()

HISTORY_PAGE_SIZE = 100


@register.simple_tag(takes_context=True)
def audit_history(context, obj) -> dict:
    """The object's audit entries, newest first, a page at a time (?p=), with who acted and what changed
    made readable; and the link to the same entries in the audit list for staff who may see it. Two
    queries whatever the number of entries (the page, and its count)."""
    request = context["request"]
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
    entries = (
        AuditEntry.objects.filter(content_type=content_type, object_id=str(obj.pk))
        .select_related("actor", "content_type")
        .order_by("-created_at", "-id")
    )
    page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("p"))
    rows = [
        {
            "entry": entry,
            "kind": audit_display.actor_kind(entry),
            "who": audit_display.actor_text(entry),
            "action": action_label(entry.action),
            "changes": audit_display.payload_lines(entry.payload),
        }
        for entry in page
    ]
    trail_url = None
    if request.user.has_perm("core.view_auditentry"):
        trail_url = (
            reverse("admin:core_auditentry_changelist")
            + "?"
            + urlencode({"content_type__id__exact": content_type.pk, "object_id": obj.pk})
        )
    return {"page": page, "rows": rows, "trail_url": trail_url}
