"""Reads of clinic and patient data, always scoped to the user's clinic."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Membership, Patient, Role
from .text import normalised_identifier, normalised_name

# Who may read and write patient data. Clinic admins manage accounts and see no patient data (least
# privilege); superusers without a membership use the Django admin, not the clinical pages or API.
CLINICAL_ROLES = frozenset({Role.STAFF, Role.DOCTOR})


def membership_for(user: User | AnonymousUser) -> Membership | None:
    # A Django-admin (staff or superuser) account belongs to no clinic, whatever rows say: a membership
    # left on an account later made superuser must not open a clinic's pages to it.
    if not user.is_authenticated or user.is_staff or user.is_superuser:
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def clinical_membership_for(user: User | AnonymousUser) -> Membership | None:
    """The user's membership when their role may see patient data (staff, doctor); None otherwise."""
    membership = membership_for(user)
    if membership is None or membership.role not in CLINICAL_ROLES:
        return None
    return membership


def doctor_membership_for(user: User | AnonymousUser, *, refusal: str) -> Membership:
    """The user's membership if they are a doctor of a clinic; PermissionDenied with the refusal otherwise
    (a 403 on a page and through the API)."""
    membership = clinical_membership_for(user)
    if membership is None or not membership.can_review:
        raise PermissionDenied(refusal)
    return membership


def patient_list(*, user: User | AnonymousUser, search: str = "") -> QuerySet[Patient]:
    """The patients of the user's clinic (none for a user without a clinical role), optionally filtered."""
    membership = clinical_membership_for(user)
    if membership is None:
        return Patient.objects.none()
    patients = Patient.objects.filter(clinic_id=membership.clinic_id)
    search = search.strip()
    if search:
        # Compared in the forms registration stores: a record number folded (full-width letters, other
        # dashes), a name composed (an accent typed as a separate mark).
        name = normalised_name(search)
        patients = patients.filter(
            Q(medical_record_number__icontains=normalised_identifier(search))
            | Q(first_name__icontains=name)
            | Q(last_name__icontains=name)
        )
    return patients


def patient_get(*, user: User | AnonymousUser, patient_id: int) -> Patient:
    """One patient of the user's clinic; 404 otherwise, so other clinics' patients do not leak."""
    try:
        return patient_list(user=user).get(pk=patient_id)
    except (Patient.DoesNotExist, ValueError, TypeError):
        raise Http404("No such patient") from None
