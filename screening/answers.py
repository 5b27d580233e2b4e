"""The examination's one answer (DESIGN.md "Referral", presentation): refer / rescreen in 12 months / retake,
with one line of reason and its source.

Once a doctor has signed off, the doctor's decision (from the review's grades) is the answer, and the model's
recommendation stays beside it as the model's suggestion; before, the model's recommendation is the answer.
The rules are referral.py's (recommendation, recall_recommendation): this module only words them. Pure: no
query, no settings; the facts come from selectors.facts_of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .grade_descriptions import description
from .models import SIDES, Grade
from .referral import (
    RECOMMENDATION_LABELS,
    REFER,
    RETAKE,
    ExaminationFacts,
    EyeResult,
    recall_recommendation,
    recommendation,
)

DOCTOR = "doctor"
MODEL = "model"
LABELS = RECOMMENDATION_LABELS


@dataclass(frozen=True)
class Answer:
    key: str  # refer / rescreen_12_months / retake (referral.py's recommendation)
    label: str
    reason: str  # one line: which eye, and what of it
    source: str  # DOCTOR or MODEL
    # Under a doctor's answer, the model's: shown below it as "model suggestion" (None if the model gave none).
    model_suggestion: Answer | None = None

    def as_json(self) -> dict[str, Any]:
        """The API's `answer` object (serializers.py): `model_suggestion` is the model's answer whatever the
        source (the answer itself while it is the model's), so a client always finds it in one place."""
        suggestion = self if self.source == MODEL else self.model_suggestion
        return {
            "key": self.key,
            "label": self.label,
            "reason": self.reason,
            "source": self.source,
            "model_suggestion": None if suggestion is None else _suggestion_json(suggestion),
        }


def _suggestion_json(answer: Answer) -> dict[str, str]:
    return {"key": answer.key, "label": answer.label, "reason": answer.reason}


def answer_of(facts: ExaminationFacts) -> Answer | None:
    """The examination's answer: the doctor's once signed off, else the model's; None while there is neither
    (not graded yet, or grading failed)."""
    model = model_answer(facts)
    if facts.review is None:
        return model
    key = recall_recommendation(facts)
    if key is None:  # a review always grades both eyes; kept for the type checker
        return model
    eyes: dict[str, EyeResult] = {side: _reviewed(facts.review[side]) for side in SIDES}
    return Answer(key, LABELS[key], reason(key, eyes, DOCTOR), DOCTOR, model)


def model_answer(facts: ExaminationFacts) -> Answer | None:
    """The model's answer (the quality check's verdicts and the model's grades), whether or not reviewed."""
    eyes: dict[str, EyeResult] = {side: facts.eye(side) for side in SIDES}
    key = recommendation(eyes["right"], eyes["left"])
    if key is None:
        return None
    return Answer(key, LABELS[key], reason(key, eyes, MODEL), MODEL)


def _reviewed(grade: int) -> EyeResult:
    # A grade outside the classes is the doctor's "Ungradable" (models.ReviewGrade).
    return EyeResult(grade=grade, score=None, gradable=True) if grade in Grade.values else _UNGRADABLE


_UNGRADABLE = EyeResult(grade=None, score=None, gradable=False)


_FAILED = {MODEL: "failed the quality check", DOCTOR: "judged ungradable by the doctor"}


def reason(key: str, eyes: dict[str, EyeResult], source: str) -> str:
    """One line saying why: the eyes that decided it, named with the honest class descriptions."""
    if key == RETAKE:
        failed = [side for side in SIDES if eyes[side].gradable is False]
        which = "Both eyes' photographs" if len(failed) == len(SIDES) else f"{failed[0].capitalize()} eye photograph"
        return f"{which} {_FAILED[source]}"
    if key == REFER:
        referable = [side for side in SIDES if (eyes[side].grade or 0) >= Grade.MILD]
        line = "; ".join(f"{side} eye: {description(eyes[side].grade)}" for side in referable)
        return line[0].upper() + line[1:]
    return f"Both eyes: {description(Grade.NO_DR)}"
