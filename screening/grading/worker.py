"""The worker's side of grading: claim an examination, grade both eyes in one batch, save one prediction
per eye, or fail it with a reason the operator can read. Called by the grading task (tasks.py)."""

from __future__ import annotations

import hashlib
import io
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from ..models import SIDES, Examination, EyeImage, Grade, Prediction, Status
from ..side_by_side import per_eye
from . import bridge

if TYPE_CHECKING:
    from ml.predictor import ImagePrediction, Predictor

logger = logging.getLogger(__name__)


def examination_grade(*, examination_id: int) -> Examination | None:
    """Grade both eyes in one batch and store one prediction per eye; idempotent.

    Returns None when there is nothing to do (no such examination, or already done). Raises
    bridge.PermanentGradingError for faults no retry can mend; other exceptions may be transient.
    """
    examination = _examination_claim(examination_id=examination_id)
    if examination is None:
        return None
    eyes = {eye.side: eye for eye in examination.images.all()}
    if set(eyes) != set(SIDES):
        raise bridge.PermanentGradingError("The examination does not have both a right and a left photograph.")
    photographs = per_eye(bridge.open_eye_image, [eyes[side] for side in SIDES])
    # Together (where the clinic turned it on) only when both photographs passed the quality check: a dark
    # or blurred photograph's probabilities must not move the grade of the eye that was photographed well.
    together = settings.DR_GRADE_EYES_TOGETHER and all(eyes[side].gradable is not False for side in SIDES)
    predictor, results = bridge.predict(photographs, eyes=[str(side) for side in SIDES] if together else None)
    # Encoded before the transaction: the row locks below are then held for milliseconds only.
    heatmaps = dict(zip(SIDES, per_eye(_encode_overlay, results), strict=True))
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
