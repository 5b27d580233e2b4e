"""Writes for referrals: a doctor closes a patient's open referral (seen by the eye service, or otherwise
settled) with a short outcome note. The rule of what is open is referral.open_referrals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record_event
from patients.models import Patient
from patients.selectors import doctor_membership_for

from .models import REFERRAL_OUTCOME_MAX_LENGTH, Examination, ReferralClosure
from .selectors import open_referrals_by_patient

ONLY_DOCTORS = "Only doctors close referrals."
OUTCOME_REQUIRED = "Say what became of the referral (seen at the eye clinic, treated, discharged to screening, ...)."
NOT_OPEN = "This referral is not open: it was closed already, or the examination no longer answers refer."


def referral_close(
    *,
    user: User,
    patient: Patient,
    through: int,
    outcome: str,
    request: HttpRequest | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> ReferralClosure:
    """Close the patient's open referral through the examination `through` (its id): that examination's
    referral and every earlier one; a later referring examination stays open (the doctor closing did not
    see it). Raises PermissionDenied (not a doctor of the patient's clinic) and ValidationError (`outcome`
    empty or too long; `through` not an open referral of this patient).

    Audited as `referral.close` in the same transaction; the free-text outcome stays out of the audit
    detail, which keeps no personal data (as `examination.void`)."""
    membership = doctor_membership_for(user, refusal=ONLY_DOCTORS)
    if membership.clinic_id != patient.clinic_id:
        raise PermissionDenied("Only doctors of the patient's clinic close their referrals.")
    note = _outcome(outcome)
    with transaction.atomic():
        # Locked: two doctors closing at once must not both pass the "still open" check below.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        open_now = open_referrals_by_patient(patients=Patient.objects.filter(pk=patient.pk)).get(patient.pk, [])
        closed = [facts for facts in open_now if facts.examination_id == through]
        if not closed:
            raise ValidationError({"__all__": [NOT_OPEN]})
        examination = Examination.objects.get(pk=through, patient=patient)
        closure = ReferralClosure.objects.create(
            patient=patient, examination=examination, closed_by=user, closed_at=timezone.now(), outcome=note
        )
        covered = [facts.examination_id for facts in open_now if facts.created_at <= examination.created_at]
        detail = {**(audit_detail or {}), "through": examination.pk, "examinations": covered}
        record_event(action="referral.close", request=request, actor=user, obj=closure, detail=detail)
    return closure


def _outcome(outcome: str | None) -> str:
    note = (outcome or "").strip()
    if not note:
        raise ValidationError({"outcome": [OUTCOME_REQUIRED]})
    if len(note) > REFERRAL_OUTCOME_MAX_LENGTH:
        raise ValidationError(
            {"outcome": [f"Keep the outcome to {REFERRAL_OUTCOME_MAX_LENGTH} characters (it has {len(note)})."]}
        )
    return note
