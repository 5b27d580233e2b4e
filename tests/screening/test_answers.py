"""The examination's one answer (screening/answers.py): the key, label and reason of each outcome, and whose
answer it is: the doctor's once signed off (the model's kept as its suggestion), the model's before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from screening.answers import DOCTOR, LABELS, MODEL, answer_of
from screening.models import ReviewGrade
from screening.referral import REFER, RESCREEN, RETAKE, ExaminationFacts, EyeResult

UNGRADABLE = ReviewGrade.UNGRADABLE.value


def _facts(
    right: int | None,
    left: int | None,
    *,
    gradable: tuple[bool | None, bool | None] = (True, True),
    review: tuple[int, int] | None = None,
) -> ExaminationFacts:
    facts = ExaminationFacts(patient_id=1, created_at=datetime(2026, 1, 1, tzinfo=UTC), status="done")
    facts.eyes = {
        "right": EyeResult(grade=right, score=0.9, gradable=gradable[0]),
        "left": EyeResult(grade=left, score=0.6, gradable=gradable[1]),
    }
    if review is not None:
        facts.review = {"right": review[0], "left": review[1]}
    return facts


@pytest.mark.parametrize(
    ("grades", "gradable", "key", "reason"),
    [
        ((0, 0), (True, True), RESCREEN, "Both eyes: No DR (ICDR 0)"),
        ((2, 0), (True, True), REFER, "Right eye: Severe NPDR or PDR (ICDR 3-4)"),
        ((0, 1), (True, True), REFER, "Left eye: Mild-moderate NPDR (ICDR 1-2)"),
        (
            (2, 1),
            (True, True),
            REFER,
            "Right eye: Severe NPDR or PDR (ICDR 3-4); left eye: Mild-moderate NPDR (ICDR 1-2)",
        ),
        ((2, 2), (True, False), RETAKE, "Left eye photograph failed the quality check"),
        ((None, None), (False, False), RETAKE, "Both eyes' photographs failed the quality check"),
    ],
)
def test_the_models_answer_says_what_to_do_and_why(grades, gradable, key, reason) -> None:
    answer = answer_of(_facts(*grades, gradable=gradable))
    assert answer is not None
    assert (answer.key, answer.label, answer.reason, answer.source) == (key, LABELS[key], reason, MODEL)
    assert answer.model_suggestion is None


def test_the_three_answers_are_worded_for_the_clinic() -> None:
    assert LABELS == {
        REFER: "Refer to an ophthalmologist",
        RESCREEN: "No referable DR: rescreen in 12 months",
        RETAKE: "Photograph not gradable: retake",
    }


def test_there_is_no_answer_before_the_model_has_graded() -> None:
    assert answer_of(_facts(None, None, gradable=(True, True))) is None
    assert answer_of(_facts(1, None, gradable=(None, None))) is None


def test_once_signed_off_the_doctors_decision_is_the_answer_and_the_models_its_suggestion() -> None:
    answer = answer_of(_facts(0, 0, review=(0, 2)))
    assert answer is not None
    assert (answer.key, answer.reason, answer.source) == (REFER, "Left eye: Severe NPDR or PDR (ICDR 3-4)", DOCTOR)
    suggestion = answer.model_suggestion
    assert suggestion is not None and (suggestion.key, suggestion.source) == (RESCREEN, MODEL)


def test_a_doctors_ungradable_eye_answers_retake_whatever_the_model_said() -> None:
    answer = answer_of(_facts(2, 2, review=(UNGRADABLE, 2)))
    assert answer is not None
    assert (answer.key, answer.label, answer.source) == (RETAKE, "Photograph not gradable: retake", DOCTOR)
    assert answer.reason == "Right eye photograph judged ungradable by the doctor"
    both = answer_of(_facts(0, 0, review=(UNGRADABLE, UNGRADABLE)))
    assert both is not None and both.reason == "Both eyes' photographs judged ungradable by the doctor"


def test_a_doctor_who_grades_a_photograph_the_quality_check_failed_decides() -> None:
    # The doctor could have chosen Ungradable; grading the eye says the photograph was good enough.
    answer = answer_of(_facts(0, 0, gradable=(True, False), review=(0, 0)))
    assert answer is not None and (answer.key, answer.source) == (RESCREEN, DOCTOR)
    assert answer.model_suggestion is not None and answer.model_suggestion.key == RETAKE


def test_the_api_object_carries_the_models_suggestion_whatever_the_source() -> None:
    model = answer_of(_facts(1, 0))
    assert model is not None
    reason = "Right eye: Mild-moderate NPDR (ICDR 1-2)"
    suggestion = {"key": REFER, "label": "Refer to an ophthalmologist", "reason": reason}
    assert model.as_json() == {**suggestion, "source": MODEL, "model_suggestion": suggestion}
    doctor = answer_of(_facts(1, 0, review=(0, 0)))
    assert doctor is not None
    assert doctor.as_json()["source"] == DOCTOR and doctor.as_json()["model_suggestion"] == suggestion
