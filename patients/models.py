"""Clinics, who belongs to which (with a role), and the patients each clinic registers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Clinic(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    STAFF = "staff", "Staff"
    DOCTOR = "doctor", "Doctor"
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"


# Each role is mirrored by a Django group of this name, so admins manage permissions in the admin.
ROLE_GROUPS: dict[str, str] = {Role.STAFF: "Staff", Role.DOCTOR: "Doctor", Role.CLINIC_ADMIN: "Clinic admin"}


class Membership(models.Model):
    """A user's place in exactly one clinic, with one role."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.clinic})"

    @property
    def can_review(self) -> bool:
        return self.role == Role.DOCTOR

    @property
    def can_manage_clinic(self) -> bool:
        return self.role == Role.CLINIC_ADMIN


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "O", "Other"
    UNKNOWN = "U", "Unknown"


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    medical_record_number = models.CharField(max_length=64)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="patients_created", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            # Case-insensitive: "QA-7" and "qa-7" are one patient's record number, typed two ways.
            models.UniqueConstraint(Lower("medical_record_number"), "clinic", name="patient_mrn_unique_per_clinic_ci"),
            models.CheckConstraint(condition=models.Q(sex__in=Sex.values), name="patient_sex_valid"),
            models.CheckConstraint(condition=~models.Q(medical_record_number=""), name="patient_mrn_not_empty"),
        ]
        indexes = [models.Index(fields=["clinic", "last_name"])]

    def __str__(self) -> str:
        return f"{self.last_name}, {self.first_name} ({self.medical_record_number})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
