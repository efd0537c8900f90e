"""The audit trail (ARCHITECTURE.md "Audit"): every service that changes state writes one entry in the same
transaction, naming who acted.

    audit_log(action="order.refunded", obj=order, by=request.user, payload={"amount_yen": 500})
    audit_log(action="tickets.expired", obj=None, by=None, system="expire_tickets", payload={"count": 12})

`by` is the staff member or member acting; None means a system job, which must then be named in `system`.

Edits made through the Django admin's own forms (add, change, delete of configuration: items, stores,
settings…) write Django's LogEntry; `AuditedLogEntryManager` writes an audit entry for each as well, so
nothing staff change is missing from the trail. When the admin saved through a service that already wrote
its entry for that object in the same request, the LogEntry adds no second one.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal

from django.apps import apps as django_apps
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry, LogEntryManager
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext

from core.models import AuditEntry

# (content type id, object id, actor id) of the entries services wrote during the current request; None
# outside requests. Reset by the request_started signal (see CoreConfig.ready).
_written_in_request: ContextVar[set[tuple[int | None, str, int | None]] | None] = ContextVar(
    "audit_written_in_request", default=None
)

ADMIN_VERBS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}
# The payload key holding a Django admin change message (a JSON list, or plain text for old entries).
ADMIN_MESSAGE_KEY = "change_message"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


_action_labels: dict[str, str] = {}


def register_action_labels(labels: dict[str, str]) -> None:
    """What each action key means, in words staff read (translatable). Apps register their own in
    AppConfig.ready(), so core names no domain action."""
    _action_labels.update(labels)


def action_label(action: str) -> str:
    """The action's words: as its app registered them, or for an admin form edit (`app.model.verb`) the
    model's name and what was done to it; the key itself for anything else."""
    label = _action_labels.get(action)
    if label is not None:
        return str(label)
    app_label, _dot, rest = action.partition(".")
    model_name, _dot, verb = rest.partition(".")
    verbs = {"added": gettext("added"), "changed": gettext("changed"), "deleted": gettext("deleted")}
    if verb in verbs:
        try:
            model = django_apps.get_model(app_label, model_name)
        except LookupError:
            return action
        return f"{capfirst(model._meta.verbose_name)}: {verbs[verb]}"
    return action


def audit_log(
    *,
    action: str,
    obj: models.Model | None,
    by,
    payload: dict | None = None,
    system: str = "",
    now: datetime | None = None,
) -> AuditEntry:
    """Write one audit entry. Call it inside the service's transaction, after the change."""
    actor = by if by is not None and getattr(by, "pk", None) is not None else None
    if actor is None and not system:
        raise ValueError("audit_log: a change made by nobody must name the system job (system=...)")
    content_type = (
        ContentType.objects.get_for_model(obj, for_concrete_model=False) if obj is not None else None
    )
    entry = AuditEntry.objects.create(
        action=action,
        content_type=content_type,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        actor=actor,
        system=system if actor is None else "",
        payload=_jsonable(payload or {}),
        created_at=now or timezone.now(),
    )
    written = _written_in_request.get()
    if written is not None:
        written.add((entry.content_type_id, entry.object_id, entry.actor_id))
    return entry


def changes(instance: models.Model, before: dict, fields) -> dict:
    """{field: [old, new]} for the fields whose value differs from `before` (a dict of old values): the
    "what changed" of a service's payload."""
    return {
        name: [before.get(name), getattr(instance, name)]
        for name in fields
        if before.get(name) != getattr(instance, name)
    }


# --- the Django admin's own edits -------------------------------------------------------------------------


def request_started(**kwargs) -> None:
    _written_in_request.set(set())


def request_finished(**kwargs) -> None:
    _written_in_request.set(None)


def audit_admin_log_entries(entries: list[LogEntry]) -> list[AuditEntry]:
    """An audit entry for each LogEntry the admin wrote (`<app>.<model>.added/changed/deleted`, the staff
    user as actor, the change message as payload), except for objects a service already recorded in this
    request (an admin that saves through a service, then logs the change as Django does)."""
    written = _written_in_request.get() or set()
    rows = []
    for log in entries:
        if (log.content_type_id, str(log.object_id), log.user_id) in written:
            continue
        content_type = ContentType.objects.get_for_id(log.content_type_id) if log.content_type_id else None
        prefix = f"{content_type.app_label}.{content_type.model}" if content_type else "admin"
        rows.append(
            AuditEntry(
                action=f"{prefix}.{ADMIN_VERBS.get(log.action_flag, 'changed')}",
                content_type_id=log.content_type_id,
                object_id=str(log.object_id or ""),
                object_repr=(log.object_repr or "")[:200],
                actor_id=log.user_id,
                payload={ADMIN_MESSAGE_KEY: _admin_message(log.change_message)},
                created_at=log.action_time or timezone.now(),
            )
        )
    return AuditEntry.objects.bulk_create(rows) if rows else []


def _admin_message(text: str):
    if text and text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text or ""


class AuditedLogEntryManager(LogEntryManager):
    """LogEntry's manager, writing the audit entries too. Installed in CoreConfig.ready() on
    `LogEntry.objects`: a post_save receiver would miss the admin's multi-object deletions, which Django
    writes with bulk_create (no signal)."""

    def log_actions(self, user_id, queryset, action_flag, change_message="", *, single_object=False):
        logged = super().log_actions(
            user_id, queryset, action_flag, change_message, single_object=single_object
        )
        audit_admin_log_entries([logged] if single_object else list(logged))
        return logged

    def deconstruct(self):
        # Installed at startup on Django's own model: to migrations it is still Django's manager, so
        # `makemigrations` sees no change to the admin app.
        as_manager, _path, qs_class, args, kwargs = super().deconstruct()
        return as_manager, "django.contrib.admin.models.LogEntryManager", qs_class, args, kwargs

    def __eq__(self, other):
        return isinstance(other, LogEntryManager) and self._constructor_args == other._constructor_args

    __hash__ = LogEntryManager.__hash__


def install_atomic_bulk_delete() -> None:
    """The admin's "delete selected" in one transaction on every admin: Django writes the deletions'
    LogEntry (and so their audit entries) before it deletes, outside a transaction, so a delete refused
    half-way (a row protected meanwhile) would leave "deleted" in a trail that can never be corrected."""
    from django.contrib import admin
    from django.contrib.admin.actions import delete_selected
    from django.db import transaction

    @admin.action(
        description=delete_selected.short_description, permissions=delete_selected.allowed_permissions
    )
    def delete_selected_atomically(modeladmin, request, queryset):
        with transaction.atomic():
            return delete_selected(modeladmin, request, queryset)

    admin.site.disable_action("delete_selected")
    admin.site.add_action(delete_selected_atomically, "delete_selected")


def install_admin_log_auditing() -> None:
    manager = LogEntry._meta.default_manager
    if not isinstance(manager, AuditedLogEntryManager):
        manager.__class__ = AuditedLogEntryManager
