"""The grading task, run in this process on a real (tiny) checkpoint through the real Predictor."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from ml.checkpoint import read_card
from screening import services
from screening.grading import bridge, worker
from screening.models import Examination, Prediction, Status
from screening.tasks import grade_examination

pytestmark = pytest.mark.django_db


@pytest.fixture
def paired_checkpoint(tiny_checkpoint, settings, tmp_path):
    """The tiny checkpoint with a pairing section (weight 0.5) in its card, as the worker's model, and the
    clinic's setting on."""
    from tests.conftest import paired_copy

    paired = paired_copy(tiny_checkpoint, tmp_path, 0.5)
    settings.DR_CHECKPOINT_PATH = str(paired)
    settings.DR_GRADE_EYES_TOGETHER = True
    return paired


@pytest.fixture
def examination(owner, patient, right_eye, left_eye) -> Examination:
    return services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)


def test_it_grades_both_eyes_and_stores_heatmaps(examination, grading_checkpoint) -> None:
    assert grade_examination.apply(args=[examination.pk]).get() == "done"
    examination.refresh_from_db()
    assert examination.status == Status.DONE
    assert examination.completed_at is not None and examination.attempts == 1
    predictions = Prediction.objects.filter(eye_image__examination=examination)
    assert [p.attempt for p in predictions] == [1, 1]
    assert sorted(p.eye_image.side for p in predictions) == ["left", "right"]
    for prediction in predictions:
        assert prediction.model_version == read_card(grading_checkpoint)["version"]
        assert len(prediction.checkpoint_sha256) == 64
        assert sum(prediction.confidences.values()) == pytest.approx(1.0, abs=1e-4)
        assert prediction.graded_with_other_eye is False  # the tiny checkpoint's card has no pairing
        assert default_storage.exists(prediction.heatmap.name)
        with prediction.heatmap.open("rb") as handle:
            overlay = Image.open(handle)
            assert overlay.size == (prediction.eye_image.width, prediction.eye_image.height)


def test_running_the_task_twice_leaves_one_prediction_per_eye(examination, grading_checkpoint) -> None:
    grade_examination.apply(args=[examination.pk])
    first = set(Prediction.objects.values_list("pk", flat=True))
    # A redelivered message (worker died after saving, say) finds a done examination and does nothing.
    grade_examination.apply(args=[examination.pk])
    assert set(Prediction.objects.values_list("pk", flat=True)) == first
    # Even when the status was put back (the reconciler re-queues it), the predictions are not doubled.
    Examination.objects.filter(pk=examination.pk).update(status=Status.QUEUED)
    assert grade_examination.apply(args=[examination.pk]).get() == "done"
    assert Prediction.objects.filter(eye_image__examination=examination).count() == 2
    examination.refresh_from_db()
    assert examination.status == Status.DONE


def test_a_missing_photograph_fails_the_examination_with_a_reason(examination, grading_checkpoint) -> None:
    right = examination.images.get(side="right")
    default_storage.delete(right.file.name)
    assert grade_examination.apply(args=[examination.pk]).get() == "failed"
    examination.refresh_from_db()
    assert examination.status == Status.FAILED
    assert examination.error == "The right eye's photograph is missing from storage."
    assert not Prediction.objects.exists()


def test_a_missing_checkpoint_fails_the_examination_with_a_reason(examination, settings, tmp_path) -> None:
    settings.DR_CHECKPOINT_PATH = str(tmp_path / "nowhere.safetensors")
    assert grade_examination.apply(args=[examination.pk]).get() == "failed"
    examination.refresh_from_db()
    assert examination.status == Status.FAILED
    assert examination.error.startswith("The grading model cannot be loaded")


def test_a_transient_fault_is_retried_and_then_gives_up_with_a_reason(
    examination, grading_checkpoint, monkeypatch
) -> None:
    from django.db import OperationalError

    calls = []

    def flaky(**kwargs: object) -> None:
        calls.append(kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    # After the claim, as a database that drops the connection mid-grading would: each try is an attempt.
    monkeypatch.setattr(worker, "attempt_grade", flaky)
    monkeypatch.setattr("screening.tasks.retry_delay", lambda retries: 0)
    result = grade_examination.apply(args=[examination.pk])
    assert result.get() == "failed"
    assert len(calls) == 5  # the first try and four retries
    examination.refresh_from_db()
    assert examination.status == Status.FAILED
    assert "after 5 tries" in examination.error
    assert examination.attempts == 5


def test_the_predictor_is_loaded_once_per_process(grading_checkpoint) -> None:
    assert bridge.get_predictor() is bridge.get_predictor()


def test_an_unknown_examination_is_a_no_op(db, grading_checkpoint) -> None:
    assert grade_examination.apply(args=[987654]).get() == "done"


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_racing_leave_the_later_attempts_prediction_per_eye(
    owner, patient, right_eye, left_eye, grading_checkpoint, monkeypatch
) -> None:
    import threading

    from django.db import connection

    from screening.grading.attempts import AttemptFenced

    examination = services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    start = threading.Barrier(2)
    # Both deliveries have claimed the examination before either grades: the race the fencing must settle.
    both_claimed = threading.Barrier(2)
    real_predict = bridge.predict

    def predict_after_both_claimed(photographs, eyes):
        both_claimed.wait(timeout=30)
        return real_predict(photographs, eyes)

    monkeypatch.setattr(bridge, "predict", predict_after_both_claimed)
    outcomes: list[object] = []

    def deliver() -> None:
        try:
            start.wait()
            outcomes.append(worker.examination_grade(examination_id=examination.pk))
        except BaseException as error:  # reported below; a thread's exception would vanish otherwise
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # The later claim superseded the earlier one, whose result was refused.
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Attempt", "AttemptFenced"]
    (fenced,) = [outcome for outcome in outcomes if isinstance(outcome, AttemptFenced)]
    assert "attempt 1 " in str(fenced)
    predictions = Prediction.objects.filter(eye_image__examination=examination)
    assert sorted(predictions.values_list("attempt", flat=True)) == [2, 2]
    examination.refresh_from_db()
    assert (examination.status, examination.attempts) == (Status.DONE, 2)


def test_an_examination_voided_while_queued_is_graded_harmlessly_and_stays_voided(
    examination, owner, colleague, grading_checkpoint
) -> None:
    from screening.selectors import worklist

    services.examination_void(user=owner, examination=examination, reason="Wrong patient.")
    # The message was already on the queue: the worker still grades it, which must neither fail nor undo the void.
    assert grade_examination.apply(args=[examination.pk]).get() == "done"
    assert grade_examination.apply(args=[examination.pk]).get() == "done"
    examination.refresh_from_db()
    assert examination.status == Status.DONE and examination.voided
    assert (examination.voided_by, examination.void_reason) == (owner, "Wrong patient.")
    assert Prediction.objects.filter(eye_image__examination=examination).count() == 2
    assert not worklist(user=colleague).exists()


def test_both_eyes_are_graded_together_and_the_seed_score_is_each_eye_alone(examination, paired_checkpoint) -> None:
    import numpy as np

    from ml.pairing import pool

    # Weight 0.5: both eyes end with one set of probabilities, while each eye's seed score stays what its
    # photograph alone gave.
    assert grade_examination.apply(args=[examination.pk]).get() == "done"
    by_side = {p.eye_image.side: p for p in Prediction.objects.filter(eye_image__examination=examination)}
    right, left = by_side["right"], by_side["left"]
    assert list(right.confidences.values()) == pytest.approx(list(left.confidences.values()), abs=1e-6)
    # The same photographs graded one by one, as the seed rule reads them.
    predictor = bridge.get_predictor()
    photographs = [bridge.open_eye_image(prediction.eye_image) for prediction in (right, left)]
    alone = predictor.predict(photographs, heatmaps=False)
    assert right.seed_score == pytest.approx(max(alone[0].confidences.values()), abs=1e-5)
    assert left.seed_score == pytest.approx(max(alone[1].confidences.values()), abs=1e-5)
    assert right.score == right.seed_score
    assert right.graded_with_other_eye and left.graded_with_other_eye
    assert right.single_eye_class == alone[0].class_index and left.single_eye_class == alone[1].class_index
    single = np.array([list(result.confidences.values()) for result in alone])
    assert list(right.confidences.values()) == pytest.approx(pool(single, np.array([1, 0]), 0.5)[0], abs=1e-5)


def test_an_ungradable_photograph_does_not_move_the_other_eyes_grade(examination, paired_checkpoint) -> None:
    from screening.models import EyeImage

    EyeImage.objects.filter(examination=examination, side="left").update(gradable=False)
    assert grade_examination.apply(args=[examination.pk]).get() == "done"
    by_side = {p.eye_image.side: p for p in Prediction.objects.filter(eye_image__examination=examination)}
    assert not by_side["right"].graded_with_other_eye and not by_side["left"].graded_with_other_eye
    photographs = [bridge.open_eye_image(by_side[side].eye_image) for side in ("right", "left")]
    alone = bridge.get_predictor().predict(photographs, heatmaps=False)
    for side, result in zip(("right", "left"), alone, strict=True):
        assert list(by_side[side].confidences.values()) == pytest.approx(list(result.confidences.values()), abs=1e-5)


def test_a_checkpoint_with_pairing_grades_each_eye_alone_unless_the_clinic_turns_it_on(
    examination, paired_checkpoint, settings
) -> None:
    settings.DR_GRADE_EYES_TOGETHER = False  # the default
    assert grade_examination.apply(args=[examination.pk]).get() == "done"
    predictions = list(Prediction.objects.filter(eye_image__examination=examination))
    assert len(predictions) == 2 and not any(p.graded_with_other_eye for p in predictions)
