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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from .models import Examination
    from .selectors import ExaminationFacts

SEED_MESSAGE = (
    "We hope that you will see a specialized ophthalmologist due to the inability of the model to extract "
    "sufficient information"
)
REFER = "refer"
RESCREEN = "rescreen_12_months"
RETAKE = "retake"
RECOMMENDATION_LABELS = {
    REFER: "Refer to an ophthalmologist",
    RESCREEN: "Rescreen in 12 months",
    RETAKE: "Retake the photograph",
}
# Scores are floats from a softmax: 0.9 - 0.8 is 0.09999999999999998 in binary. Rounding the
# difference first makes "a difference of 0.1" mean 0.1 at the boundary, as a person reads it.
_DECIMALS = 9


@dataclass(frozen=True)
class EyeResult:
    grade: int | None  # the model's class index; None when not graded yet
    score: float | None  # confidence of that class
    gradable: bool | None  # the quality check's verdict; None when not checked


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


def referral_for(examination: Examination) -> dict[str, Any]:
    """{"warning", "message", "recommendation"} for an examination, from its latest predictions.

    Reads the examination's images and predictions; prefetch them (selectors do) to avoid queries.
    """
    from .selectors import facts_of

    return referral_of(facts_of(examination))


def referral_of(facts: ExaminationFacts) -> dict[str, Any]:
    """The same from an examination's facts (selectors.facts_of), when the caller already has them."""
    return referral(facts.eye("right"), facts.eye("left"), settings.REFERRAL_SCORE_DIFF_THRESHOLD)
