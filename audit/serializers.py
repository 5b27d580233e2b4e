"""Input and output serializers for the audit-trail API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import AuditEvent


class AuditEventFilterSerializer(serializers.Serializer[Any]):
    """The filters of GET /api/v1/audit-events/. Bad values answer 400 with the field named."""

    action = serializers.CharField(required=False, max_length=50, help_text="Exact action, e.g. patient.view")
    actor = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="User id")
    username = serializers.CharField(required=False, max_length=150)
    patient = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Patient id")
    clinic = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Clinic id")
    object_type = serializers.CharField(required=False, max_length=50)
    object_id = serializers.CharField(required=False, max_length=64)
    ip_address = serializers.IPAddressField(required=False)
    since = serializers.DateTimeField(required=False, help_text="Events at or after this time (ISO 8601)")
    until = serializers.DateTimeField(required=False, help_text="Events before this time (ISO 8601)")

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:  # type: ignore[operator]
            raise serializers.ValidationError({"until": "Must not be before since."})
        return attrs


class AuditEventOutputSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.IntegerField(source="actor_id", allow_null=True)
    patient = serializers.IntegerField(source="patient_id", allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "timestamp",
            "action",
            "actor",
            "username",
            "object_type",
            "object_id",
            "patient",
            "clinic_id",
            "ip_address",
            "user_agent",
            "detail",
        ]
        read_only_fields = fields
