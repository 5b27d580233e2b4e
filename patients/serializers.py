"""Small input and output serializers for the patient API, one pair per operation."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import Patient, Sex


class PatientSearchSerializer(serializers.Serializer[Any]):
    # A CharField refuses NUL characters (which PostgreSQL would reject with an error): a 400, not a 500.
    search = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    due_for_rescreening = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only patients whose newest examination recommended rescreening in 12 months and is "
        "RESCREEN_INTERVAL_DAYS (365) days old or more.",
    )


class PatientCreateInputSerializer(serializers.Serializer[Any]):
    medical_record_number = serializers.CharField(max_length=64)
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    sex = serializers.ChoiceField(choices=Sex.choices)


class PatientUpdateInputSerializer(PatientCreateInputSerializer):
    """Any of the registration's fields, with its checks; a field not sent keeps its value. Other fields
    (unknown ones, and id, clinic, created_at) are ignored, as registration ignores them."""


class PatientOutputSerializer(serializers.ModelSerializer[Patient]):
    class Meta:
        model = Patient
        fields = ["id", "medical_record_number", "first_name", "last_name", "date_of_birth", "sex", "created_at"]
        read_only_fields = fields


class TokenObtainInputSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenOutputSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()
