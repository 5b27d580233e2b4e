"""The worker's side of grading: claim an attempt (attempts.py), grade both eyes in one batch with the
attempt's heartbeat beating (heartbeat.py), and save one prediction per eye and `done`, fenced: only while the
attempt is still the examination's current one. Called by the grading task (tasks.py), which fails the
attempt (attempts.attempt_fail) when grading cannot succeed."""

from __future__ import annotations

import hashlib
import io
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.utils import timezone

from ..models import SIDES, EyeImage, Grade, Prediction, Side, Status
from ..side_by_side import per_eye
from ..stalls import end_transaction_if_stalled
from . import bridge
from .attempts import Attempt, AttemptFenced, attempt_claim, current, log_fenced
from .heartbeat import beating

if TYPE_CHECKING:
    from ml.predictor import ImagePrediction, Predictor

logger = logging.getLogger(__name__)


def examination_grade(*, examination_id: int, task_id: str = "") -> Attempt | None:
    """Claim a new attempt and grade it: the whole of one delivery of the grading task. Returns the attempt, or
    None when there was nothing to grade. Raises as attempt_grade does."""
    attempt = attempt_claim(examination_id=examination_id, task_id=task_id)
    if attempt is not None:
        attempt_grade(attempt=attempt)
    return attempt


def attempt_grade(*, attempt: Attempt) -> None:
    """Grade both eyes in one batch and store one prediction per eye, the attempt's heartbeat kept fresh meanwhile.

    Raises AttemptFenced when another attempt took the examination over (nothing was written), and
    bridge.PermanentGradingError for faults no retry can mend; other exceptions may be transient.
    """
    with beating(attempt) as heartbeat:
        eyes = {eye.side: eye for eye in EyeImage.objects.filter(examination_id=attempt.examination_id)}
        if set(eyes) != set(SIDES):
            raise bridge.PermanentGradingError("The examination does not have both a right and a left photograph.")
        photographs = per_eye(bridge.open_eye_image, [eyes[side] for side in SIDES])
        heartbeat.check()
        # Together (where the clinic turned it on) only when both photographs passed the quality check: a dark
        # or blurred photograph's probabilities must not move the grade of the eye that was photographed well.
        together = settings.DR_GRADE_EYES_TOGETHER and all(eyes[side].gradable is not False for side in SIDES)
        predictor, results = bridge.predict(photographs, eyes=[str(side) for side in SIDES] if together else None)
        heartbeat.check()
        # Encoded before the transaction: the examination's lock below is then held for milliseconds only.
        heatmaps = dict(zip(SIDES, per_eye(_encode_overlay, results), strict=True))
        _results_save(attempt=attempt, eyes=eyes, predictor=predictor, results=results, heatmaps=heatmaps)


def _results_save(
    *,
    attempt: Attempt,
    eyes: dict[str, EyeImage],
    predictor: Predictor,
    results: list[ImagePrediction],
    heatmaps: dict[Side, bytes | None],
) -> None:
    saved: list[str] = []
    try:
        with transaction.atomic():
            end_transaction_if_stalled()
            # Fence first: this UPDATE matches only while the attempt is current, and takes the examination's
            # row lock (PostgreSQL) or the database's write lock (SQLite) until the commit. A superseded attempt
            # stops here, before it has written a prediction or a heatmap file.
            if not current(attempt).update(status=Status.DONE, error="", completed_at=timezone.now()):
                log_fenced(attempt, "result")
                raise AttemptFenced(str(attempt))
            for side, result in zip(SIDES, results, strict=True):
                _prediction_save(
                    eye_image=eyes[side],
                    result=result,
                    predictor=predictor,
                    heatmap=heatmaps[side],
                    attempt=attempt,
                    saved=saved,
                )
    except DatabaseError:
        # Not committed: the heatmap files written for it belong to no prediction.
        for name in saved:
            default_storage.delete(name)
        raise
    logger.info("Graded examination %s (attempt %s)", attempt.examination_id, attempt.number)


def _encode_overlay(result: ImagePrediction) -> bytes | None:
    if result.overlay is None:
        return None
    buffer = io.BytesIO()
    # JPEG: a photograph-like overlay at a tenth of PNG's size and encoding time.
    result.overlay.convert("RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _prediction_save(
    *,
    eye_image: EyeImage,
    result: ImagePrediction,
    predictor: Predictor,
    heatmap: bytes | None,
    attempt: Attempt,
    saved: list[str],
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
        attempt=attempt.number,
    )
    if heatmap is not None:
        # Named by photograph, model and attempt, never by anything about the patient. Storage never overwrites
        # a file (it picks another name), so no attempt's file can replace another's.
        key = hashlib.sha256(f"{eye_image.sha256}:{predictor.version}".encode()).hexdigest()[:32]
        prediction.heatmap.save(f"{key}-{attempt.number}.jpg", ContentFile(heatmap), save=False)
        saved.append(str(prediction.heatmap.name))
    prediction.save()
    return prediction


def _unit(value: float) -> float:
    # Softmax in float32 can land a hair outside [0, 1]; the database constraint would refuse it.
    return min(1.0, max(0.0, float(value)))
