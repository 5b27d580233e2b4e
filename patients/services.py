"""Writes for clinics, accounts and patients."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest

from audit.services import record_event

from .models import ROLE_GROUPS, Clinic, Membership, Patient, Role, Sex
from .selectors import clinical_membership_for, patient_list
from .text import identifier_problem, name_problem, normalised_identifier, normalised_name

DUPLICATE_MRN = (
    "A patient with this medical record number already exists in your clinic (record numbers are compared "
    "without regard to upper and lower case)."
)
FUTURE_BIRTH = "The date of birth is in the future."
# Past any human age, with room to spare: the bulk import's placeholder date of birth, 1900-01-01, must pass
# for decades yet. What this catches is a mistyped century (1066, 0001).
OLDEST_AGE_YEARS = 150
ANCIENT_BIRTH = f"The date of birth is more than {OLDEST_AGE_YEARS} years ago: check the year."
STALE_UPDATE = (
    "Someone changed these details after you opened the form. The form now shows the current details: "
    "make your correction again if it is still needed."
)


class StalePatientUpdate(ValidationError):
    """The correction was made on a version of the record older than the one stored now."""


@transaction.atomic
def clinic_user_create(
    *, clinic_name: str, role: str, username: str, password: str, email: str = ""
) -> tuple[User, Clinic, bool]:
    """Create the clinic if missing and a user in it with a role. Returns (user, clinic, clinic_created).

    Refuses an existing username or a weak password, and then changes nothing.
    """
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}: choose one of {', '.join(Role.values)}.")
    user_model = get_user_model()
    # Django's own rule for usernames (letters, digits and @.+-_): "qa u" was accepted, and a space is
    # easily typed at a login and hard to see in a list of accounts.
    UnicodeUsernameValidator()(username)
    # "qa_case" beside "QA_CASE" would be two accounts that every list and audit entry shows alike.
    if user_model.objects.filter(username__iexact=username).exists():
        raise ValidationError(
            f"User {username!r} already exists (usernames are compared without regard to case); nothing was changed."
        )
    _check_account_fields(username=username, email=email)
    clinic_name = clinic_name.strip()
    if not clinic_name:
        raise ValidationError("The clinic name is empty.")
    if len(clinic_name) > CLINIC_NAME_MAX:
        raise ValidationError(f"The clinic name is longer than {CLINIC_NAME_MAX} characters.")
    user = user_model(username=username, email=email)
    validate_password(password, user=user)
    clinic, clinic_created = _clinic_named(clinic_name)
    user.set_password(password)
    user.save()
    Membership.objects.create(user=user, clinic=clinic, role=role)
    group, _ = Group.objects.get_or_create(name=ROLE_GROUPS[role])
    user.groups.add(group)
    return user, clinic, clinic_created


CLINIC_NAME_MAX = cast(int, Clinic._meta.get_field("name").max_length)  # a CharField's: always set
USERNAME_MAX = 150


def _check_account_fields(*, username: str, email: str) -> None:
    # Refused in words here, not by the database (a DataError and a traceback from the command).
    if len(username) > USERNAME_MAX:
        raise ValidationError(f"The username is longer than {USERNAME_MAX} characters.")
    if email:
        validate_email(email)


def _clinic_named(name: str) -> tuple[Clinic, bool]:
    """The clinic of that name, compared without regard to case ("demo eye clinic" is "Demo Eye Clinic":
    two clinics would split one clinic's patients between them), or a new one."""
    existing = Clinic.objects.filter(name__iexact=name).order_by("pk").first()
    if existing is not None:
        return existing, False
    return Clinic.objects.create(name=name), True


def patient_create(
    *,
    user: User,
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
    values = _patient_values(
        medical_record_number=medical_record_number,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
        sex=sex,
    )
    _validate_patient_values(values)
    if _record_number_taken(membership.clinic_id, values["medical_record_number"]):
        raise ValidationError({"medical_record_number": DUPLICATE_MRN})
    try:
        with transaction.atomic():
            return Patient.objects.create(clinic=membership.clinic, created_by=user, **values)
    except IntegrityError as exc:
        # The database constraint is the authority; this turns its refusal into a field error.
        raise ValidationError({"medical_record_number": DUPLICATE_MRN}) from exc


@transaction.atomic
def patient_update(
    *,
    user: User,
    patient: Patient,
    medical_record_number: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    date_of_birth: dt.date | None = None,
    sex: str | None = None,
    version: str | None = None,
    request: HttpRequest | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> tuple[Patient, list[str]]:
    """Correct a patient's details; a field left as None keeps its value. Returns (patient, changed field names).

    `version` (patient_version() of the record the caller showed), when given, must still be the stored
    one: otherwise StalePatientUpdate is raised and nothing changes, so a form that sends back every field
    cannot revert a colleague's correction made meanwhile.

    Refuses what registration refuses (a duplicate record number, a future date of birth) with a
    ValidationError per field, and then saves nothing. A change is audited as `patient.update` in the same
    transaction, so no correction is ever stored without its event; `request` only gives the event its IP
    and user agent, `audit_detail` extra detail (the API's channel). Nothing changed: no save, no event.
    """
    wanted = _patient_values(
        medical_record_number=medical_record_number,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
        sex=sex,
    )
    _validate_patient_values(wanted)
    current = _patient_for_update(user=user, patient_id=patient.pk)
    if version and version != patient_version(current):
        raise StalePatientUpdate({"__all__": [STALE_UPDATE]})
    changed = [name for name, value in wanted.items() if getattr(current, name) != value]
    if not changed:
        return current, []
    if "medical_record_number" in changed and _record_number_taken(
        current.clinic_id, wanted["medical_record_number"], other_than=current.pk
    ):
        raise ValidationError({"medical_record_number": DUPLICATE_MRN})
    for name in changed:
        setattr(current, name, wanted[name])
    try:
        current.save(update_fields=[*changed, "updated_at"])
    except IntegrityError as exc:
        # Validation leaves only the per-clinic unique record number to the database, the authority on it
        # (a colleague may have taken the number a moment ago); the raise rolls the transaction back.
        raise ValidationError({"medical_record_number": DUPLICATE_MRN}) from exc
    # Field names only: the audit trail keeps no copy of names or dates of birth (as patient.create).
    detail = {**(audit_detail or {}), "changed": changed}
    record_event(action="patient.update", request=request, actor=user, obj=current, detail=detail)
    return current, changed


def patient_version(patient: Patient) -> str:
    """Which version of the record this is: its last save, to the microsecond."""
    return patient.updated_at.isoformat()


def _patient_for_update(*, user: User, patient_id: int) -> Patient:
    # The row is locked and compared as stored now, not as the caller read it: two people correcting the
    # same patient at once are serialised, and each event names what that save really changed. Scoped by
    # the selector, so a patient the user may not see answers 404 here too.
    try:
        return patient_list(user=user).select_for_update().get(pk=patient_id)
    except Patient.DoesNotExist:
        raise Http404("No such patient") from None


def _patient_values(**values: Any) -> dict[str, Any]:
    """The fields given (not None), text stripped and normalised as registration stores it."""
    clean = {
        "medical_record_number": normalised_identifier,
        "first_name": normalised_name,
        "last_name": normalised_name,
    }
    return {
        name: clean.get(name, str.strip)(value) if isinstance(value, str) else value
        for name, value in values.items()
        if value is not None
    }


def _record_number_taken(clinic_id: int, number: str, *, other_than: int | None = None) -> bool:
    # "QA-7" and "qa-7" name one patient: compared case-insensitively, as the database constraint does.
    # Checked first for a clear message; the constraint stays the authority against a race.
    same = Patient.objects.filter(clinic_id=clinic_id, medical_record_number__iexact=number)
    if other_than is not None:
        same = same.exclude(pk=other_than)
    return same.exists()


def birth_date_problem(date_of_birth: dt.date) -> str | None:
    """Why a date of birth cannot be right, or None. A year typed wrong (1066 for 1966, 0001 from a
    cleared field) would otherwise be stored and every age and recall computed from it."""
    today = dt.date.today()
    if date_of_birth > today:
        return FUTURE_BIRTH
    if date_of_birth.year < today.year - OLDEST_AGE_YEARS:
        return ANCIENT_BIRTH
    return None


def _validate_patient_values(values: dict[str, Any]) -> None:
    # Forms and serializers check these first; the service checks again so no caller stores a record
    # the registration would refuse (and the database's check constraints never surface as a 500).
    errors: dict[str, str] = {}
    for name, problem_of in (
        ("medical_record_number", identifier_problem),
        ("first_name", name_problem),
        ("last_name", name_problem),
    ):
        if name in values and not values[name]:
            errors[name] = "This field may not be blank."
        elif name in values and (problem := problem_of(values[name])) is not None:
            errors[name] = problem
    if "sex" in values and values["sex"] not in Sex.values:
        errors["sex"] = f"{values['sex']!r} is not a valid choice."
    if "date_of_birth" in values and (problem := birth_date_problem(values["date_of_birth"])) is not None:
        errors["date_of_birth"] = problem
    if errors:
        raise ValidationError(errors)
