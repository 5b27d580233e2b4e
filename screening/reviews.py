"""Writes for reviews: a doctor's sign-off of a graded examination, and its amendment with a reason (the
earlier version kept as a ReviewRevision)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import formats, timezone

from audit.services import record_event
from patients.selectors import doctor_membership_for

from .models import AMEND_REASON_MAX_LENGTH, Examination, Review, ReviewGrade, ReviewRevision, Status

VOIDED_NO_REVIEW = "This examination was marked as entered in error; it cannot be reviewed."


def _require_clinic_doctor(user: User, examination: Examination, action: str, this: str) -> None:
    """PermissionDenied unless the user is a doctor of the patient's clinic ("Only doctors <action>.")."""
    membership = doctor_membership_for(user, refusal=f"Only doctors {action}.")
    if examination.patient.clinic_id != membership.clinic_id:
        raise PermissionDenied(f"Only doctors of the patient's clinic {this}.")


def review_create(
    *,
    user: User,
    examination: Examination,
    right_grade: int,
    left_grade: int,
    notes: str = "",
    request: HttpRequest | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> Review:
    """A doctor's sign-off of a graded examination; kept beside the model's grades, never over them.

    Audited as `review.create` in the same transaction: a sign-off the trail cannot record is not kept.
    `request` gives the event its IP and user agent, `audit_detail` extra detail (the API's channel).
    """
    _require_clinic_doctor(user, examination, "review examinations", "review this examination")
    errors = _grade_errors(right_grade=right_grade, left_grade=left_grade)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Locked: two doctors signing off at once must not both pass the "not reviewed yet" check.
        locked = Examination.objects.select_for_update().get(pk=examination.pk)
        if locked.voided_at is not None:
            raise ValidationError({"__all__": [VOIDED_NO_REVIEW]})
        if locked.status != Status.DONE:
            raise ValidationError({"__all__": ["Only a graded examination can be reviewed."]})
        if Review.objects.filter(examination=locked).exists():
            raise ValidationError({"__all__": ["This examination has already been reviewed."]})
        review = Review.objects.create(
            examination=locked,
            doctor=user,
            right_grade=right_grade,
            left_grade=left_grade,
            notes=notes.strip(),
            signed_off_at=timezone.now(),
        )
        record_event(action="review.create", request=request, actor=user, obj=review, detail=audit_detail)
    return review


def _grade_errors(*, right_grade: int, left_grade: int) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, grade in (("right_grade", right_grade), ("left_grade", left_grade)):
        if grade not in ReviewGrade.values:
            errors[field] = [f"Choose one of: {', '.join(ReviewGrade.labels)}."]
    return errors


# --- amending a review -------------------------------------------------------------------------------

AMEND_REASON_REQUIRED = "Say why the review is amended (a slip, a second look at the photographs, ...)."
VOIDED_NO_AMENDMENT = "This examination was marked as entered in error; its review cannot be amended."
NOT_REVIEWED_YET = "This examination has not been signed off yet: review it instead of amending."
NOTHING_TO_AMEND = "Nothing to amend: these are the grades and notes signed off. Change a grade or the notes."


def _refuse_stale_amendment(review: Review, revisions_seen: int | None) -> None:
    if revisions_seen is None:
        return
    count = review.revisions.count()
    if revisions_seen > count:
        # More versions than there are: no colleague's amendment explains it (a client's miscount).
        message = f"The review has {count} earlier versions, not {revisions_seen}: read the current version first."
        raise ValidationError({"revisions_seen": [message]})
    if revisions_seen < count:
        when = formats.date_format(timezone.localtime(review.signed_off_at), "DATETIME_FORMAT")
        raise StaleAmendment({"__all__": [STALE_AMENDMENT.format(doctor=review.doctor, time=when)]})


STALE_AMENDMENT = (
    "The review was amended by {doctor} at {time} after you opened it: read the current version, then amend "
    "again if it still needs it."
)


class StaleAmendment(ValidationError):
    """The amendment was made against an earlier version of the review than the one stored now."""


# What an amendment may change, in the order the audit detail lists the changed ones.
AMENDABLE = ("right_grade", "left_grade", "notes")


def review_amend(
    *,
    user: User,
    examination: Examination,
    right_grade: int,
    left_grade: int,
    notes: str,
    reason: str,
    revisions_seen: int | None = None,
    request: HttpRequest | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> Review:
    """A doctor of the patient's clinic replaces a signed-off review's grades and notes, giving a reason.

    `revisions_seen`, when given, is how many earlier versions the doctor's page showed: if a colleague
    amended the review since, StaleAmendment is raised and nothing changes, so no one overwrites a version
    they never saw.

    The replaced version is kept as a ReviewRevision (with who had signed it, and when); the Review row
    takes the new values, signed by the amending doctor now, so every reader (recall, statistics,
    worklist, pages, API) follows the amendment. Raises PermissionDenied (not a doctor of the clinic)
    and ValidationError (grades and reason per field, all at once; not signed off yet, entered in error,
    nothing changed). Audited as `review.amend` in the same transaction, with the names of the changed
    fields only: neither the values nor the reason's text go into the trail, which holds no free text
    about patients. `request` gives the event its IP and user agent, `audit_detail` extra detail.
    """
    _require_clinic_doctor(user, examination, "amend reviews", "amend this review")
    errors = _grade_errors(right_grade=right_grade, left_grade=left_grade)
    reason = _amend_reason(reason, errors)
    if errors:
        raise ValidationError(errors)
    wanted = {"right_grade": right_grade, "left_grade": left_grade, "notes": (notes or "").strip()}
    with transaction.atomic():
        # The examination first (the order review_create and examination_void lock in: no deadlock), then
        # its review: a colleague amending, signing off or voiding at the same moment waits, and the checks
        # below see both rows as they are now. Of two amendments at once, the later keeps the earlier's
        # values as a revision: nothing is lost.
        locked = Examination.objects.select_for_update(of=("self",)).select_related("patient").get(pk=examination.pk)
        if locked.voided_at is not None:
            raise ValidationError({"__all__": [VOIDED_NO_AMENDMENT]})
        review = Review.objects.select_for_update().filter(examination=locked).first()
        if review is None:
            raise ValidationError({"__all__": [NOT_REVIEWED_YET]})
        _refuse_stale_amendment(review, revisions_seen)
        changed = [name for name in AMENDABLE if getattr(review, name) != wanted[name]]
        if not changed:
            raise ValidationError({"__all__": [NOTHING_TO_AMEND]})
        revision = _review_replace(review=review, wanted=wanted, user=user, reason=reason)
        review.examination = locked  # the audit event finds the patient through it, without a query
        detail = {**(audit_detail or {}), "changed": changed, "revision": revision.pk}
        record_event(action="review.amend", request=request, actor=user, obj=review, detail=detail)
    return review


def _review_replace(*, review: Review, wanted: dict[str, Any], user: User, reason: str) -> ReviewRevision:
    """Keep the review's current version as a revision, then sign the wanted values off as `user`, now."""
    now = timezone.now()
    revision = ReviewRevision.objects.create(
        review=review,
        right_grade=review.right_grade,
        left_grade=review.left_grade,
        notes=review.notes,
        doctor_id=review.doctor_id,
        signed_off_at=review.signed_off_at,
        amended_by=user,
        amended_at=now,
        reason=reason,
    )
    for name, value in wanted.items():
        setattr(review, name, value)
    # The Review row says who signed the values it holds: the amending doctor, now.
    review.doctor = user
    review.signed_off_at = review.amended_at = now
    review.save(update_fields=[*AMENDABLE, "doctor", "signed_off_at", "amended_at"])
    return revision


def _amend_reason(reason: str | None, errors: dict[str, list[str]]) -> str:
    """The stripped reason; a problem with it goes into `errors`, so that every field is reported at once."""
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [AMEND_REASON_REQUIRED]
    elif len(reason) > AMEND_REASON_MAX_LENGTH:
        errors["reason"] = [f"Keep the reason to {AMEND_REASON_MAX_LENGTH} characters (it has {len(reason)})."]
    return reason
