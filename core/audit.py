"""The audit trail (ARCHITECTURE.md "Audit"): every service that changes state writes one entry in the same
transaction, naming who acted.

    audit_log(action="order.refunded", obj=order, by=request.user, payload={"amount_yen": 500})
    audit_log(action="tickets.expired", obj=None, by=None, system="expire_tickets", payload={"count": 12})

`by` is the staff member or member acting; None means a system job, which must then be named in `system`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from core.models import AuditEntry


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
    return AuditEntry.objects.create(
        action=action,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False)
        if obj is not None
        else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        actor=actor,
        system=system if actor is None else "",
        payload=_jsonable(payload or {}),
        created_at=now or timezone.now(),
    )
