"""How an audit entry reads to staff: who acted, a link to the object, and what changed. Shared by the audit
list (core.admin.AuditEntryAdmin) and each object's history page (templates/admin/object_history.html)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, pgettext

from core.audit import ADMIN_MESSAGE_KEY
from core.models import AuditEntry


def actor_kind(entry: AuditEntry) -> str:
    """ "staff", "member" or "system"."""
    if entry.actor_id is None:
        return "system"
    return "staff" if entry.actor.is_staff else "member"


def actor_text(entry: AuditEntry) -> str:
    """Who acted, as staff read it: "Staff: 山田 (yamada@…)", "Member: …" or "System: expire_tickets"."""
    if entry.actor_id is None:
        return gettext("System: %(job)s") % {"job": entry.system or "-"}
    user = entry.actor
    name = getattr(user, "name", "") or ""
    who = f"{name} ({user.email})" if name else user.email
    label = pgettext("audit actor", "Staff") if user.is_staff else pgettext("audit actor", "Member")
    return f"{label}: {who}"


def object_admin_url(entry: AuditEntry) -> str | None:
    """The object's admin page, when its model has one (and it was not deleted meanwhile: the page then
    says so itself)."""
    if entry.content_type_id is None or not entry.object_id:
        return None
    model = entry.content_type.model_class()
    if model is None or not admin.site.is_registered(model):
        return None
    try:
        return reverse(
            f"admin:{entry.content_type.app_label}_{entry.content_type.model}_change", args=[entry.object_id]
        )
    except NoReverseMatch:
        return None


def object_link(entry: AuditEntry) -> str:
    text = entry.object_repr or entry.object_id or "-"
    url = object_admin_url(entry)
    return format_html('<a href="{}">{}</a>', url, text) if url else text


def _value(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_value(item)}" for key, item in value.items())
    return str(value)


def payload_lines(payload: dict) -> list[tuple[str, str]]:
    """(label, text) for each thing the payload says. An admin edit's change message reads as the admin's
    own history did ("Changed 名前 and 料金."); `{"changes": {field: [old, new]}}` reads "field: old → new";
    anything else "key: value"."""
    lines: list[tuple[str, str]] = []
    for key, value in (payload or {}).items():
        if key == ADMIN_MESSAGE_KEY:
            message = LogEntry(change_message=value if isinstance(value, str) else _json(value))
            lines.append((gettext("change"), message.get_change_message() or "—"))
        elif key == "changes" and isinstance(value, dict):
            for field, change in value.items():
                if isinstance(change, list) and len(change) == 2:  # [old, new]
                    lines.append((field, f"{_value(change[0])} → {_value(change[1])}"))
                else:
                    lines.append((field, _value(change)))
        else:
            lines.append((key, _value(value)))
    return lines


def _json(value) -> str:
    return json.dumps(value)


def payload_html(payload: dict) -> str:
    lines = payload_lines(payload)
    if not lines:
        return "-"
    return format_html(
        '<dl class="audit-payload">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", lines)
    )
