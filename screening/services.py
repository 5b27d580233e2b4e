"""Writes for examinations: the upload, and marking one "entered in error". Reviews and their amendments
are in reviews.py; the worker's side of grading in grading/worker.py."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.utils import formats, timezone

from audit.services import record_event
from patients.models import Clinic, Patient
from patients.selectors import clinical_membership_for

from . import dicom, quality
from .models import SIDES, VOID_REASON_MAX_LENGTH, Examination, EyeImage, Side, Status
from .selectors import review_of
from .side_by_side import per_eye
from .tasks import examination_enqueue
from .validation import CheckedImage, check_upload, pair_warning


def examination_create(
    *,
    user: User,
    patient: Patient,
    right_eye: UploadedFile[bytes],
    left_eye: UploadedFile[bytes],
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
    outcomes = per_eye(_checked_or_error, [(right_eye, Side.RIGHT), (left_eye, Side.LEFT)])
    for side, outcome in zip(SIDES, outcomes, strict=True):
        if isinstance(outcome, ValidationError):
            errors[f"{side}_eye"] = outcome.messages
        else:
            checked[side] = outcome
    if "patient" not in errors:
        _refuse_other_patients_dicom(patient, checked, errors)
    _refuse_one_photograph_twice(checked, errors)
    reports = _assessed(checked, errors)
    if errors:
        raise ValidationError(errors)
    warning = pair_warning(checked[Side.RIGHT], checked[Side.LEFT])
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


def _refuse_other_patients_dicom(
    patient: Patient, checked: dict[str, CheckedImage], errors: dict[str, list[str]]
) -> None:
    """A DICOM photograph whose Patient ID names someone else goes into `errors`, under its eye."""
    for side, image in checked.items():
        refusal = dicom.patient_id_refusal(image.dicom, record_number=patient.medical_record_number, eye=side)
        if refusal is not None:
            errors[f"{side}_eye"] = [refusal]


def _refuse_one_photograph_twice(checked: dict[str, CheckedImage], errors: dict[str, list[str]]) -> None:
    """The same file, or the same pixels, chosen for both eyes goes into `errors`, under both eyes: one of
    the two is the wrong file, and only the user knows which. It was filed with a warning and graded as
    two eyes (the same eye twice), "Refer" included."""
    if len(checked) < len(SIDES):
        return
    right, left = checked[Side.RIGHT], checked[Side.LEFT]
    if right.sha256 == left.sha256:
        what = "The same file was chosen for both eyes"
    elif right.pixel_sha256 == left.pixel_sha256:
        what = "The right and left files hold the same photograph (identical pixels)"
    else:
        return
    for side in SIDES:
        errors.setdefault(f"{side}_eye", []).append(
            f"{what}: choose the photograph of the {side} eye for the {side} eye. Nothing was saved."
        )


def _assessed(checked: dict[str, CheckedImage], errors: dict[str, list[str]]) -> dict[str, quality.QualityReport]:
    """The quality check of each photograph that passed the upload checks. A picture with no fundus field at
    all (blank, noise, a page) goes into `errors` under its eye: it is refused, not filed as "retake",
    which is for a fundus photograph of poor quality."""
    sides: list[str] = [side for side in SIDES if side in checked and f"{side}_eye" not in errors]
    reports = dict(zip(sides, per_eye(quality.assess, [checked[side].image for side in sides]), strict=True))
    for side, report in reports.items():
        if report.not_fundus is not None:
            errors[f"{side}_eye"] = [f"The {side} eye's picture is refused. {report.not_fundus} Nothing was saved."]
    return reports


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
    when = formats.date_format(timezone.localtime(earlier.created_at), "DATETIME_FORMAT")
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


def _checked_or_error(upload_and_side: tuple[UploadedFile[bytes] | None, str]) -> CheckedImage | ValidationError:
    upload, side = upload_and_side
    try:
        return check_upload(upload, eye=side)
    except ValidationError as error:
        return error


def _examination_save(
    *,
    user: User,
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
                saved_files.append(cast(str, eye.file.name))  # just saved: named by its hash
                eye.save()
            examination_enqueue(examination)
            record_event(action="examination.create", actor=user, obj=examination, **audit)
    except BaseException:
        # The rows rolled back; the files were written outside the transaction and must go too.
        for name in saved_files:
            default_storage.delete(name)
        raise
    return examination


# --- entered in error -----------------------------------------------------------------------------------

ALREADY_VOIDED = "This examination has already been marked as entered in error."
NOT_OF_THE_CLINIC = "Only staff and doctors of the patient's clinic can mark an examination as entered in error."
REVIEWED_DOCTORS_ONLY = "This examination was signed off by a doctor: only a doctor can mark it as entered in error."
REASON_REQUIRED = "Say why this examination was entered in error (wrong patient, wrong photographs, ...)."


def void_refusal(*, user: User | AnonymousUser, examination: Examination) -> str | None:
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
    user: User,
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
