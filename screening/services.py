"""Writes for examinations: upload, grading (the worker's side), failure, review and its amendment,
"entered in error"."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record_event
from patients.models import Clinic, Patient
from patients.selectors import clinical_membership_for

from . import grading, quality
from .models import (
    AMEND_REASON_MAX_LENGTH,
    VOID_REASON_MAX_LENGTH,
    Examination,
    EyeImage,
    Grade,
    Prediction,
    Review,
    ReviewRevision,
    Side,
    Status,
)
from .reconcile import examination_enqueue
from .selectors import review_of
from .validation import CheckedImage, check_upload, pair_warning

if TYPE_CHECKING:
    from ml.predictor import ImagePrediction, Predictor

logger = logging.getLogger(__name__)

SIDES = (Side.RIGHT, Side.LEFT)
# Decoding, checking and encoding a photograph happen in PIL and numpy, which release the GIL: the two
# eyes of an examination run side by side (bench/bench_grading.py times each stage).
T = TypeVar("T")
R = TypeVar("R")
_EYES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="eye")


def _per_eye(function: Callable[[T], R], items: list[T]) -> list[R]:
    return list(_EYES.map(function, items))


def examination_create(
    *,
    user: AbstractBaseUser,
    patient: Patient,
    right_eye: UploadedFile,
    left_eye: UploadedFile,
    notes: str = "",
    request: HttpRequest | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> Examination:
    """Validate, hash and quality-check both photographs, save the examination `queued` and enqueue
    grading once the transaction commits. On any error nothing is saved (database rows or files).

    Audited as `examination.create` in the same transaction: an examination the trail cannot record is
    not kept. `request` only gives the event its IP and user agent, `audit_detail` extra detail.

    Raises ValidationError with keys right_eye / left_eye / patient (all problems at once).
    """
    membership = clinical_membership_for(user)
    if membership is None:
        raise PermissionDenied("Only clinic staff and doctors upload examinations.")
    errors: dict[str, list[str]] = {}
    if patient is None or patient.clinic_id != membership.clinic_id:
        # Same words as for a patient that does not exist: another clinic's patients do not leak.
        errors["patient"] = ["No such patient."]
    checked: dict[str, CheckedImage] = {}
    outcomes = _per_eye(_checked_or_error, [(right_eye, Side.RIGHT), (left_eye, Side.LEFT)])
    for side, outcome in zip(SIDES, outcomes, strict=True):
        if isinstance(outcome, ValidationError):
            errors[f"{side}_eye"] = outcome.messages
        else:
            checked[side] = outcome
    if errors:
        raise ValidationError(errors)
    warning = pair_warning(checked[Side.RIGHT], checked[Side.LEFT])
    reports = dict(zip(SIDES, _per_eye(quality.assess, [checked[side].image for side in SIDES]), strict=True))
    audit = {"request": request, "detail": audit_detail or {}}
    try:
        return _examination_save(
            user=user, patient=patient, notes=notes, checked=checked, reports=reports, warning=warning, audit=audit
        )
    except PairOnFile as refusal:
        # The refusal tells of an examination, another patient's perhaps: a read, recorded once the save
        # has rolled back (inside it, the event would have gone with it).
        detail = {**(audit_detail or {}), "refused": "duplicate_pair", "upload_for": patient.pk}
        record_event(action="examination.view", actor=user, obj=refusal.earlier, request=request, detail=detail)
        raise


def _refuse_pair_on_file(patient: Patient, checked: dict[str, CheckedImage]) -> None:
    """Refuse the very pair of photographs already filed in this clinic (and not entered in error), either
    way round.

    A Predict pressed again after the browser's Back, or a second upload of the same files, made a second
    examination of one visit: two entries on the worklist, two in the history and the statistics. The same
    two photographs with the eyes the other way round mean one of the two uploads swapped right and left,
    the more dangerous mistake: refused too, until the wrong one is marked entered in error. A new
    photograph of one eye beside an old one of the other (a retake of one eye) is a new pair and allowed.
    """
    # By pixels: a photograph re-saved with other metadata (a padded EXIF block) is the same photograph.
    right, left = checked[Side.RIGHT].pixel_sha256, checked[Side.LEFT].pixel_sha256
    swapped = False
    earlier = _filed_pair(patient.clinic_id, right, left)
    if earlier is None and right != left:
        swapped, earlier = True, _filed_pair(patient.clinic_id, left, right)
    if earlier is not None:
        raise PairOnFile(_duplicate_message(earlier, patient, swapped), earlier=earlier)


class PairOnFile(ValidationError):
    """The refusal of a pair already filed, with the examination that holds it: the page links to it, and
    examination_create records that the refusal named it."""

    def __init__(self, message: str, *, earlier: Examination) -> None:
        super().__init__({"__all__": [ValidationError(message, code="duplicate_pair")]})
        self.earlier = earlier


def _duplicate_message(earlier: Examination, patient: Patient, swapped: bool) -> str:
    when = timezone.localtime(earlier.created_at).strftime("%d %b %Y %H:%M")
    if earlier.patient_id == patient.pk:
        whose = f"for this patient on {when} (examination {earlier.pk})"
    else:
        # The examination only, which the user can open (an audited read) and act on; not the other
        # patient's name and record number, which the refusal showed unrecorded.
        whose = f"under another patient of this clinic (examination {earlier.pk}, {when})"
    if swapped:
        return (
            f"These two photographs were already filed {whose} with the right and left eye the other way "
            "round: one of the two uploads has the eyes swapped. Mark the wrong examination entered in error "
            "first. Nothing was saved."
        )
    if earlier.patient_id == patient.pk:
        return f"These two photographs were already uploaded {whose}: open that examination instead. Nothing was saved."
    return (
        f"These two photographs are already filed {whose}. If they belong to this patient, mark that "
        "examination entered in error first. Nothing was saved."
    )


def _filed_pair(clinic_id: int, right: str, left: str) -> Examination | None:
    """The clinic's earliest examination (not entered in error, not failed) with these right and left
    photographs (by their pixel hashes)."""
    return (
        # A failed examination has no result to open: its photographs may be filed again.
        Examination.objects.filter(patient__clinic_id=clinic_id, voided_at__isnull=True)
        .exclude(status=Status.FAILED)
        .filter(images__side=Side.RIGHT, images__pixel_sha256=right)
        .filter(images__side=Side.LEFT, images__pixel_sha256=left)
        .select_related("patient")
        .order_by("created_at")
        .first()
    )


def _checked_or_error(upload_and_side: tuple[UploadedFile | None, str]) -> CheckedImage | ValidationError:
    upload, side = upload_and_side
    try:
        return check_upload(upload, eye=side)
    except ValidationError as error:
        return error


def _examination_save(
    *,
    user: AbstractBaseUser,
    patient: Patient,
    notes: str,
    checked: dict[str, CheckedImage],
    reports: dict[str, quality.QualityReport],
    warning: str | None,
    audit: dict[str, Any],
) -> Examination:
    saved_files: list[str] = []
    try:
        with transaction.atomic():
            # Under a lock on the clinic's row held until commit: two uploads of one pair sent at once (a
            # client's retry, two staff) would otherwise both pass the check and file the pair twice.
            list(Clinic.objects.select_for_update().filter(pk=patient.clinic_id).values_list("pk", flat=True))
            _refuse_pair_on_file(patient, checked)
            examination = Examination.objects.create(
                patient=patient, created_by=user, notes=notes.strip(), status=Status.QUEUED
            )
            for side in SIDES:
                image = checked[side]
                report = reports[side]
                eye = EyeImage(
                    examination=examination,
                    side=side,
                    sha256=image.sha256,
                    pixel_sha256=image.pixel_sha256,
                    format=image.format,
                    gradable=report.gradable,
                    quality={**report.as_json(), "pair_warning": warning},
                )
                eye.file.save(f"{image.sha256}.{image.format.lower()}", ContentFile(image.content), save=False)
                # Set after the file: assigning it makes the ImageField re-measure (and here lose) them.
                eye.width, eye.height = image.width, image.height
                saved_files.append(eye.file.name)
                eye.save()
            examination_enqueue(examination)
            record_event(action="examination.create", actor=user, obj=examination, **audit)
    except BaseException:
        # The rows rolled back; the files were written outside the transaction and must go too.
        for name in saved_files:
            default_storage.delete(name)
        raise
    return examination


# --- grading: the worker's side -------------------------------------------------------------------


def examination_grade(*, examination_id: int) -> Examination | None:
    """Grade both eyes in one batch and store one prediction per eye; idempotent.

    Returns None when there is nothing to do (no such examination, or already done). Raises
    grading.PermanentGradingError for faults no retry can mend; other exceptions may be transient.
    """
    examination = _examination_claim(examination_id=examination_id)
    if examination is None:
        return None
    eyes = {eye.side: eye for eye in examination.images.all()}
    if set(eyes) != set(SIDES):
        raise grading.PermanentGradingError("The examination does not have both a right and a left photograph.")
    photographs = _per_eye(grading.open_eye_image, [eyes[side] for side in SIDES])
    # Together (where the clinic turned it on) only when both photographs passed the quality check: a dark
    # or blurred photograph's probabilities must not move the grade of the eye that was photographed well.
    together = settings.DR_GRADE_EYES_TOGETHER and all(eyes[side].gradable is not False for side in SIDES)
    predictor, results = grading.predict(photographs, eyes=[str(side) for side in SIDES] if together else None)
    # Encoded before the transaction: the row locks below are then held for milliseconds only.
    heatmaps = dict(zip(SIDES, _per_eye(_encode_overlay, results), strict=True))
    with transaction.atomic():
        # Locked so that two deliveries of the same task (a redelivery racing the first) cannot both
        # write; the second finds the predictions and the `done` status of the first.
        examination = Examination.objects.select_for_update().get(pk=examination_id)
        if examination.status == Status.DONE:
            return examination
        for side, result in zip(SIDES, results, strict=True):
            _prediction_save(eye_image=eyes[side], result=result, predictor=predictor, heatmap=heatmaps[side])
        examination.status = Status.DONE
        examination.error = ""
        examination.completed_at = timezone.now()
        examination.save(update_fields=["status", "error", "completed_at"])
    return examination


def _examination_claim(*, examination_id: int) -> Examination | None:
    with transaction.atomic():
        examination = Examination.objects.select_for_update().filter(pk=examination_id).first()
        if examination is None or examination.status == Status.DONE:
            return None
        examination.status = Status.RUNNING
        examination.started_at = timezone.now()
        examination.attempts += 1
        examination.save(update_fields=["status", "started_at", "attempts"])
    return examination


def _encode_overlay(result: ImagePrediction) -> bytes | None:
    if result.overlay is None:
        return None
    buffer = io.BytesIO()
    # JPEG: a photograph-like overlay at a tenth of PNG's size and encoding time.
    result.overlay.convert("RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _prediction_save(
    *, eye_image: EyeImage, result: ImagePrediction, predictor: Predictor, heatmap: bytes | None
) -> Prediction:
    existing = Prediction.objects.filter(eye_image=eye_image, model_version=predictor.version).first()
    if existing is not None:
        return existing
    confidences = [result.confidences[label] for label in predictor.labels]
    prediction = Prediction(
        eye_image=eye_image,
        model_version=predictor.version,
        checkpoint_sha256=predictor.checkpoint_sha256,
        predicted_class=result.class_index,
        confidence_no_dr=_unit(confidences[Grade.NO_DR]),
        confidence_mild=_unit(confidences[Grade.MILD]),
        confidence_proliferative=_unit(confidences[Grade.PROLIFERATIVE]),
        seed_score=_unit(result.single_eye_score),
        single_eye_class=result.single_eye_class,
        graded_with_other_eye=result.other_eye_used,
        inference_seconds=result.inference_seconds,
    )
    if heatmap is not None:
        # Named by photograph and model, never by anything about the patient.
        key = hashlib.sha256(f"{eye_image.sha256}:{predictor.version}".encode()).hexdigest()[:32]
        prediction.heatmap.save(f"{key}.jpg", ContentFile(heatmap), save=False)
    prediction.save()
    return prediction


def _unit(value: float) -> float:
    # Softmax in float32 can land a hair outside [0, 1]; the database constraint would refuse it.
    return min(1.0, max(0.0, float(value)))


def examination_fail(*, examination_id: int, reason: str) -> None:
    """Mark an examination failed with a reason the operator can read (unless it finished meanwhile)."""
    with transaction.atomic():
        examination = Examination.objects.select_for_update().filter(pk=examination_id).first()
        if examination is None or examination.status == Status.DONE:
            return
        examination.status = Status.FAILED
        examination.error = reason[:2000]
        examination.completed_at = timezone.now()
        examination.save(update_fields=["status", "error", "completed_at"])
    logger.warning("Examination %s failed: %s", examination_id, reason)


# --- review -----------------------------------------------------------------------------------------


def _require_clinic_doctor(user: AbstractBaseUser, examination: Examination, action: str, this: str) -> None:
    """PermissionDenied unless the user is a doctor of the patient's clinic ("Only doctors <action>.")."""
    membership = clinical_membership_for(user)
    if membership is None or not membership.can_review:
        raise PermissionDenied(f"Only doctors {action}.")
    if examination.patient.clinic_id != membership.clinic_id:
        raise PermissionDenied(f"Only doctors of the patient's clinic {this}.")


def review_create(
    *, user: AbstractBaseUser, examination: Examination, right_grade: int, left_grade: int, notes: str = ""
) -> Review:
    """A doctor's sign-off of a graded examination; kept beside the model's grades, never over them."""
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
        return Review.objects.create(
            examination=locked,
            doctor=user,
            right_grade=right_grade,
            left_grade=left_grade,
            notes=notes.strip(),
            signed_off_at=timezone.now(),
        )


def _grade_errors(*, right_grade: int, left_grade: int) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, grade in (("right_grade", right_grade), ("left_grade", left_grade)):
        if grade not in Grade.values:
            errors[field] = [f"Choose one of: {', '.join(Grade.labels)}."]
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
        when = review.signed_off_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        raise StaleAmendment({"__all__": [STALE_AMENDMENT.format(doctor=review.doctor, time=when)]})


STALE_AMENDMENT = (
    "The review was amended by {doctor} at {time} UTC after you opened it: read the current version, then amend "
    "again if it still needs it."
)


class StaleAmendment(ValidationError):
    """The amendment was made against an earlier version of the review than the one stored now."""


# What an amendment may change, in the order the audit detail lists the changed ones.
AMENDABLE = ("right_grade", "left_grade", "notes")


def review_amend(
    *,
    user: AbstractBaseUser,
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


def _review_replace(*, review: Review, wanted: dict[str, Any], user: AbstractBaseUser, reason: str) -> ReviewRevision:
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


# --- entered in error -----------------------------------------------------------------------------------

VOIDED_NO_REVIEW = "This examination was marked as entered in error; it cannot be reviewed."
ALREADY_VOIDED = "This examination has already been marked as entered in error."
NOT_OF_THE_CLINIC = "Only staff and doctors of the patient's clinic can mark an examination as entered in error."
REVIEWED_DOCTORS_ONLY = "This examination was signed off by a doctor: only a doctor can mark it as entered in error."
REASON_REQUIRED = "Say why this examination was entered in error (wrong patient, wrong photographs, ...)."


def void_refusal(*, user: AbstractBaseUser | AnonymousUser, examination: Examination) -> str | None:
    """Why this user may not mark the examination as entered in error, or None when they may.

    Staff and doctors of the patient's clinic may void an examination no doctor has signed off; once
    signed off, the clinical decision is a doctor's, and so is taking it back. Pages and API ask this
    before reading the reason (and to offer the form); the service asks again under the row lock.
    """
    membership = clinical_membership_for(user)
    if membership is None or membership.clinic_id != examination.patient.clinic_id:
        return NOT_OF_THE_CLINIC
    if not membership.can_review and review_of(examination) is not None:
        return REVIEWED_DOCTORS_ONLY
    return None


def examination_void(
    *,
    user: AbstractBaseUser,
    examination: Examination,
    reason: str,
    request: HttpRequest | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> Examination:
    """Mark an examination "entered in error" (wrong patient, wrong photographs): it stays in the record,
    photographs, predictions and review included, but no longer counts anywhere a clinical decision is read.

    Raises PermissionDenied (not of the clinic; staff on a signed-off examination) and ValidationError
    (`reason` empty or too long; already voided). Audited as `examination.void` in the same transaction,
    so no void is stored without its event; the free-text reason stays out of the audit detail, which
    keeps no personal data (as `patient.update`). `request` gives the event its IP and user agent,
    `audit_detail` extra detail (the API's channel).
    """
    with transaction.atomic():
        # Locked (this row only, not the patient): a doctor signing off or a colleague voiding at the same
        # moment waits, and the checks below see the row (and its review) as they are now, not as the
        # caller read them.
        locked = Examination.objects.select_for_update(of=("self",)).select_related("patient").get(pk=examination.pk)
        refusal = void_refusal(user=user, examination=locked)
        if refusal is not None:
            raise PermissionDenied(refusal)
        if locked.voided_at is not None:
            raise ValidationError({"__all__": [ALREADY_VOIDED]})
        locked.void_reason = _void_reason(reason)
        locked.voided_at = timezone.now()
        locked.voided_by = user
        locked.save(update_fields=["voided_at", "voided_by", "void_reason"])
        detail = {**(audit_detail or {}), "status": locked.status, "reviewed": review_of(locked) is not None}
        record_event(action="examination.void", request=request, actor=user, obj=locked, detail=detail)
    return locked


def _void_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [REASON_REQUIRED]})
    if len(reason) > VOID_REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": [f"Keep the reason to {VOID_REASON_MAX_LENGTH} characters (it has {len(reason)})."]}
        )
    return reason
