"""Programme statistics of one clinic: screening volume and outcomes by month, and how the model agrees
with the doctors who reviewed its grades (the figure that says whether to keep trusting it here).

Computed from the examinations of a window (12 months by default) in one query of plain values
(selectors.examination_facts), and no patient is named in the output. Examinations entered in error
(voided) are not counted: they were of the wrong patient or photographs.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.utils import timezone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

from .models import SIDES, Examination, Grade, ReviewGrade, Side, Status
from .referral import REFER, RESCREEN, RETAKE, ExaminationFacts, recommendation
from .selectors import examination_facts

# Below this many cases a proportion's interval is wide: the page says so beside it.
SMALL_SAMPLE = 30
Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95% interval


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion successes/n (95% by default); None for n = 0.

    Not the textbook p ± z·sqrt(p(1-p)/n): at 8 of 8 that is 100% to 100%, as if 8 eyes proved the model
    never misses. Wilson's stays inside 0-1 and is honest at the edges (8 of 8: 68% to 100%)."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / denominator
    # At 0 (or n) successes the lower (upper) bound is exactly 0 (1); the floating-point sum leaves a hair
    # off it, a bound above the observed share. Clamped for the rest.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def proportion(successes: int, n: int) -> dict[str, Any] | None:
    """{"share", "low", "high", "n", "small"}: a proportion with its 95% Wilson interval, and whether n is
    below SMALL_SAMPLE; None for n = 0."""
    interval = wilson_interval(successes, n)
    if interval is None:
        return None
    return {"share": successes / n, "low": interval[0], "high": interval[1], "n": n, "small": n < SMALL_SAMPLE}


@dataclass
class Month:
    month: date
    examinations: int = 0
    graded: int = 0
    failed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    reviewed: int = 0

    def share(self, outcome: str) -> float | None:
        """The fraction of graded examinations with this recommendation."""
        return self.outcomes[outcome] / self.graded if self.graded else None

    @property
    def refer_share(self) -> float | None:
        return self.share(REFER)

    @property
    def rescreen_share(self) -> float | None:
        return self.share(RESCREEN)

    @property
    def retake_share(self) -> float | None:
        return self.share(RETAKE)

    def interval(self, outcome: str) -> dict[str, Any] | None:
        """The outcome's share of graded examinations with its 95% interval (proportion)."""
        return proportion(self.outcomes[outcome], self.graded)

    @property
    def refer_interval(self) -> dict[str, Any] | None:
        return self.interval(REFER)

    @property
    def rescreen_interval(self) -> dict[str, Any] | None:
        return self.interval(RESCREEN)

    @property
    def retake_interval(self) -> dict[str, Any] | None:
        return self.interval(RETAKE)


def month_json(row: Month) -> dict[str, Any]:
    """A month's (or the window's) figures for the API: counts, and outcomes as counts of graded examinations."""
    return {
        "month": row.month.strftime("%Y-%m"),
        "examinations": row.examinations,
        "graded": row.graded,
        "failed": row.failed,
        "outcomes": {outcome: row.outcomes[outcome] for outcome in (REFER, RESCREEN, RETAKE)},
        "reviewed": row.reviewed,
    }


def clinic_statistics(*, clinic_id: int, months: int = 12, now: datetime | None = None) -> dict[str, Any]:
    """{"since", "months": [Month, newest first], "totals": Month, "agreement": {...}} for the clinic."""
    now = now or timezone.now()
    since = (now - timedelta(days=31 * (months - 1))).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    by_month: dict[date, Month] = {}
    totals = Month(since.date())
    pairs: list[tuple[int, int]] = []
    ungradable = 0  # reviewed eyes a doctor signed off as Ungradable: no grade to compare
    window = Examination.objects.counted().filter(patient__clinic_id=clinic_id, created_at__gte=since)
    for examination in examination_facts(window):
        key = examination.created_at.date().replace(day=1)
        for row in (by_month.setdefault(key, Month(key)), totals):
            _count(row, examination)
        pairs += _model_and_doctor_grades(examination)
        ungradable += _ungradable_reviewed_eyes(examination)
    return {
        "since": since,
        "months": sorted(by_month.values(), key=lambda row: row.month, reverse=True),
        "totals": totals,
        "agreement": {**agreement(pairs), "ungradable": ungradable},
        "small_sample": SMALL_SAMPLE,
    }


def _count(row: Month, examination: ExaminationFacts) -> None:
    row.examinations += 1
    if examination.status == Status.FAILED:
        row.failed += 1
    if examination.status != Status.DONE:
        return
    row.graded += 1
    # The same rule as the result page (referral.recommendation), on the model's latest grades.
    row.outcomes[recommendation(examination.eye(Side.RIGHT), examination.eye(Side.LEFT)) or "none"] += 1
    row.reviewed += examination.review is not None


def _model_and_doctor_grades(examination: ExaminationFacts) -> list[tuple[int, int]]:
    """(model grade, doctor's grade) for each reviewed eye the model graded and the doctor graded too.

    An eye the doctor signed off as Ungradable is left out of the agreement figures: it has no grade to
    agree with, and counting it as either a match or a miss would move kappa, sensitivity and specificity
    by a photograph's quality rather than by the model's grading (the page says how many were left out)."""
    if examination.review is None:
        return []
    pairs = [(examination.eye(side).grade, examination.review[side]) for side in SIDES]
    return [(model, doctor) for model, doctor in pairs if model is not None and doctor in Grade.values]


def _ungradable_reviewed_eyes(examination: ExaminationFacts) -> int:
    if examination.review is None:
        return 0
    return sum(examination.review[side] == ReviewGrade.UNGRADABLE for side in SIDES)


def agreement(pairs: list[tuple[int, int]]) -> dict[str, Any]:
    """How the model's grades compare with the doctors' on the same eyes (the doctor as reference)."""
    classes = [grade.value for grade in Grade]
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for model_grade, doctor_grade in pairs:
        matrix[doctor_grade, model_grade] += 1
    n = int(matrix.sum())
    rows = [{"label": label, "counts": counts} for label, counts in zip(Grade.labels, matrix.tolist(), strict=True)]
    if n == 0:
        return {"eyes": 0, "labels": Grade.labels, "matrix": matrix.tolist(), "rows": rows}
    model, doctor = (np.array(column) for column in zip(*pairs, strict=True))
    # With one grade only kappa is undefined: sklearn warns and returns NaN, shown as "not defined".
    with warnings.catch_warnings(action="ignore", category=UndefinedMetricWarning):
        kappa = cohen_kappa_score(doctor, model, labels=classes, weights="quadratic")
    referable, called = doctor >= Grade.MILD, model >= Grade.MILD
    agreed, found, cleared = int(np.trace(matrix)), int((called & referable).sum()), int((~called & ~referable).sum())
    return {
        "eyes": n,
        "labels": Grade.labels,
        "matrix": matrix.tolist(),  # rows: the doctor's grade; columns: the model's
        "rows": rows,
        "agreed": int(np.trace(matrix)),
        "referable": int(referable.sum()),
        "referable_found": int((called & referable).sum()),
        "clear": int((~referable).sum()),
        "clear_cleared": int((~called & ~referable).sum()),
        "agreement": float(np.trace(matrix) / n),
        "kappa": None if np.isnan(kappa) else float(kappa),
        "sensitivity": float((called & referable).sum() / referable.sum()) if referable.any() else None,
        "specificity": float((~called & ~referable).sum() / (~referable).sum()) if (~referable).any() else None,
        # Each proportion with its 95% Wilson interval and its small-sample flag (None where n is 0).
        "intervals": {
            "agreement": proportion(agreed, n),
            "sensitivity": proportion(found, int(referable.sum())),
            "specificity": proportion(cleared, int((~referable).sum())),
        },
        "small_sample": SMALL_SAMPLE,
    }
