"""Reads of the audit trail."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import AuditEvent

# Filter name -> ORM lookup. Everything is an exact match except the time bounds.
_LOOKUPS = {
    "action": "action",
    "actor": "actor_id",
    "username": "username",
    "patient": "patient_id",
    "clinic": "clinic_id",
    "object_type": "object_type",
    "object_id": "object_id",
    "ip_address": "ip_address",
    "since": "timestamp__gte",
    "until": "timestamp__lt",
}


def audit_event_list(*, filters: dict[str, Any] | None = None) -> QuerySet[AuditEvent]:
    """The whole trail, newest first, narrowed by already validated filters."""
    lookups = {_LOOKUPS[name]: value for name, value in (filters or {}).items() if name in _LOOKUPS}
    return AuditEvent.objects.filter(**lookups).order_by("-timestamp", "-id")
