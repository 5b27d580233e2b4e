"""Writes for clinics, accounts and patients."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from .models import ROLE_GROUPS, Clinic, Membership, Patient, Role
from .selectors import clinical_membership_for


@transaction.atomic
def clinic_user_create(
    *, clinic_name: str, role: str, username: str, password: str, email: str = ""
) -> tuple[AbstractBaseUser, Clinic, bool]:
    """Create the clinic if missing and a user in it with a role. Returns (user, clinic, clinic_created).

    Refuses an existing username or a weak password, and then changes nothing.
    """
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}: choose one of {', '.join(Role.values)}.")
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise ValidationError(f"User {username!r} already exists; nothing was changed.")
    clinic_name = clinic_name.strip()
    if not clinic_name:
        raise ValidationError("The clinic name is empty.")
    user = user_model(username=username, email=email)
    validate_password(password, user=user)
    clinic, clinic_created = Clinic.objects.get_or_create(name=clinic_name)
    user.set_password(password)
    user.save()
    Membership.objects.create(user=user, clinic=clinic, role=role)
    group, _ = Group.objects.get_or_create(name=ROLE_GROUPS[role])
    user.groups.add(group)
    return user, clinic, clinic_created


def patient_create(
    *,
    user: AbstractBaseUser,
    medical_record_number: str,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date,
    sex: str,
) -> Patient:
    """Register a patient in the user's clinic. A duplicate record number is a ValidationError."""
    membership = clinical_membership_for(user)
    if membership is None:
        raise PermissionDenied("Only clinic staff and doctors can register patients.")
    if date_of_birth > dt.date.today():
        raise ValidationError({"date_of_birth": "The date of birth is in the future."})
    try:
        with transaction.atomic():
            return Patient.objects.create(
                clinic=membership.clinic,
                medical_record_number=medical_record_number.strip(),
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                date_of_birth=date_of_birth,
                sex=sex,
                created_by=user,
            )
    except IntegrityError as exc:
        # The database constraint is the authority; this turns its refusal into a field error.
        raise ValidationError(
            {"medical_record_number": "A patient with this medical record number already exists in your clinic."}
        ) from exc
