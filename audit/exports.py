"""The audit trail as CSV, streamed row by row so a large export never sits in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils import timezone

from .models import AuditEvent

COLUMNS = [
    "id",
    "timestamp",
    "action",
    "actor_id",
    "username",
    "object_type",
    "object_id",
    "patient_id",
    "clinic_id",
    "ip_address",
    "user_agent",
    "detail",
]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): user agents and
# typed usernames are attacker-controlled, so such cells are prefixed with a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The header line, then one line per event, timestamps in ISO 8601 in the portal's time zone (TIME_ZONE)
    with their offset: what the clinic's clocks showed, and unambiguous."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for event in events:
        yield writer.writerow([_safe(_value(event, column)) for column in COLUMNS])


def _value(event: AuditEvent, column: str) -> Any:
    if column == "timestamp":
        return timezone.localtime(event.timestamp).isoformat()
    if column == "detail":
        return json.dumps(event.detail, sort_keys=True)
    value = getattr(event, column)
    return "" if value is None else value


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
