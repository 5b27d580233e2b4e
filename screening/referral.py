"""Referral rules, as pure functions of the two eyes' results (DESIGN.md "Referral").

* The seed rule, kept exactly: each eye's score is the confidence of its predicted class; when the two
  scores differ by less than the threshold (a setting, 0.1 by default) the page shows SEED_MESSAGE.
* The recommendation: `retake` when an eye's photograph is ungradable (whatever the model said, since
  it was not shown enough to say it), else `refer` when either eye is Mild or worse, else
  `rescreen_12_months`.

Ungradable photographs are still graded by the model (see docs/screening.md): the doctor sees what it
made of them, flagged as unreliable, but the recommendation is `retake`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from .models import SIDES, ReviewGrade, Side

SEED_MESSAGE = (
    "We hope that you will see a specialized ophthalmologist due to the inability of the model to extract "
    "sufficient information"
)
REFER = "refer"
RESCREEN = "rescreen_12_months"
RETAKE = "retake"
# What each recommendation tells the clinic: the one answer's words (answers.py) wherever it is shown.
RECOMMENDATION_LABELS = {
    REFER: "Refer to an ophthalmologist",
    RESCREEN: "No referable DR: rescreen in 12 months",
    RETAKE: "Photograph not gradable: retake",
}
# Scores are floats from a softmax: 0.9 - 0.8 is 0.09999999999999998 in binary. Rounding the
# difference first makes "a difference of 0.1" mean 0.1 at the boundary, as a person reads it.
_DECIMALS = 9


@dataclass(frozen=True)
class EyeResult:
    grade: int | None  # the model's class index; None when not graded yet
    score: float | None  # confidence of that class
    gradable: bool | None  # the quality check's verdict; None when not checked


@dataclass
class ExaminationFacts:
    """What the rules, the recall and the statistics need of one examination, as plain values (read by
    selectors.facts_of and selectors.examination_facts)."""

    patient_id: int
    created_at: datetime
    status: str
    # Per side: the model's latest grade and the quality verdict (and the score, from facts_of only:
    # examination_facts leaves it None, so it is not enough for the seed rule).
    eyes: dict[str, EyeResult] = field(default_factory=dict)
    review: dict[str, int] | None = None  # the doctor's grade per side (a ReviewGrade), if reviewed
    examination_id: int | None = None

    def eye(self, side: str) -> EyeResult:
        return self.eyes.get(side, EyeResult(grade=None, score=None, gradable=None))


def seed_warning(right_score: float, left_score: float, threshold: float) -> bool:
    """The seed rule: True when |score(right) - score(left)| < threshold."""
    return round(abs(right_score - left_score), _DECIMALS) < threshold


def recommendation(right: EyeResult, left: EyeResult) -> str | None:
    """refer / rescreen_12_months / retake, or None while an eye has neither a grade nor a verdict."""
    if right.gradable is False or left.gradable is False:
        return RETAKE
    if right.grade is None or left.grade is None:
        return None
    if right.grade >= 1 or left.grade >= 1:
        return REFER
    return RESCREEN


def referral(right: EyeResult, left: EyeResult, threshold: float) -> dict[str, Any]:
    graded = right.score is not None and left.score is not None
    warning = graded and seed_warning(right.score, left.score, threshold)  # type: ignore[arg-type]
    return {
        "warning": warning,
        "message": SEED_MESSAGE if warning else None,
        "recommendation": recommendation(right, left) if graded or _any_ungradable(right, left) else None,
    }


def _any_ungradable(right: EyeResult, left: EyeResult) -> bool:
    return right.gradable is False or left.gradable is False


def referral_of(facts: ExaminationFacts) -> dict[str, Any]:
    """{"warning", "message", "recommendation"} from an examination's facts (selectors.facts_of)."""
    return referral(facts.eye("right"), facts.eye("left"), settings.REFERRAL_SCORE_DIFF_THRESHOLD)


def recall_recommendation(facts: ExaminationFacts) -> str | None:
    """The recommendation the recall acts on: by the doctor's grades where reviewed, else the model's."""
    if facts.review is None:
        return recommendation(facts.eye(Side.RIGHT), facts.eye(Side.LEFT))
    return recommendation(*(reviewed_eye(facts.review[side]) for side in SIDES))


def reviewed_eye(grade: int) -> EyeResult:
    """A doctor's grade of an eye as the rules read it. The doctor decides alone: "Ungradable" means a retake,
    and a grade means the doctor could grade the photograph, whatever the quality check said of it."""
    if grade == ReviewGrade.UNGRADABLE:
        return EyeResult(grade=None, score=None, gradable=False)
    return EyeResult(grade=grade, score=None, gradable=True)


def open_referrals(history: Iterable[ExaminationFacts], closed_through: datetime | None) -> list[ExaminationFacts]:
    """The examinations of one patient whose referral is open, oldest first: each answered "refer" (by the
    doctor's grades where reviewed, else the model's: recall_recommendation) and is newer than the
    examination the patient's latest referral closure closed through (`closed_through`, its time).

    Only a doctor's closure closes a referral. A newer examination does not, whatever it answered: an
    unreviewed "No DR" after a confirmed "refer" leaves the patient referred, never due in 12 months.
    `history` holds the patient's examinations that count (not entered in error)."""
    return sorted(
        (
            facts
            for facts in history
            if (closed_through is None or facts.created_at > closed_through) and recall_recommendation(facts) == REFER
        ),
        key=lambda facts: facts.created_at,
    )
