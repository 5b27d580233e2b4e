"""Programme statistics of one clinic: screening volume and outcomes by month, and how the model agrees
with the doctors who reviewed its grades (the figure that says whether to keep trusting it here).

Computed from the examinations of a window (12 months by default) in one query of plain values, and no
patient is named in the output.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

from .models import EyeImage, Grade, Prediction, Side, Status
from .referral import REFER, RESCREEN, RETAKE, EyeResult, recommendation
from .selectors import SIDES


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


def clinic_statistics(*, clinic_id: int, months: int = 12, now: datetime | None = None) -> dict[str, Any]:
    """{"since", "months": [Month, newest first], "totals": Month, "agreement": {...}} for the clinic."""
    now = now or timezone.now()
    since = (now - timedelta(days=31 * (months - 1))).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    by_month: dict[date, Month] = {}
    totals = Month(since.date())
    pairs: list[tuple[int, int]] = []
    for examination in _examination_rows(clinic_id, since):
        key = examination["created_at"].date().replace(day=1)
        for row in (by_month.setdefault(key, Month(key)), totals):
            _count(row, examination)
        pairs += _model_and_doctor_grades(examination)
    return {
        "since": since,
        "months": sorted(by_month.values(), key=lambda row: row.month, reverse=True),
        "totals": totals,
        "agreement": agreement(pairs),
    }


_ROW_FIELDS = (
    *("examination_id", "examination__created_at", "examination__status", "side", "gradable", "grade"),
    *("examination__review__right_grade", "examination__review__left_grade"),
)


def _examination_rows(clinic_id: int, since: datetime) -> list[dict[str, Any]]:
    """One plain row per examination: status, date, review grades and per eye the verdict and model grade.

    One query of two rows per examination (its photographs, each with its latest prediction's grade):
    plain values rather than model instances, which were several times slower for a year of a busy clinic
    (bench/bench_statistics.py).
    """
    latest_grade = (
        Prediction.objects.filter(eye_image=OuterRef("pk")).order_by("-created_at", "-id").values("predicted_class")[:1]
    )
    photographs = (
        EyeImage.objects.filter(examination__patient__clinic_id=clinic_id, examination__created_at__gte=since)
        .annotate(grade=Subquery(latest_grade))
        .values_list(*_ROW_FIELDS)
    )
    rows: dict[int, dict[str, Any]] = {}
    for exam_id, created_at, status, side, gradable, grade, reviewed_right, reviewed_left in photographs:
        row = rows.setdefault(exam_id, {"created_at": created_at, "status": status, "eyes": {}})
        row["review"] = None if reviewed_right is None else {Side.RIGHT: reviewed_right, Side.LEFT: reviewed_left}
        row["eyes"][side] = EyeResult(grade=grade, score=None, gradable=gradable)
    return sorted(rows.values(), key=lambda row: row["created_at"])


def _count(row: Month, examination: dict[str, Any]) -> None:
    row.examinations += 1
    if examination["status"] == Status.FAILED:
        row.failed += 1
    if examination["status"] != Status.DONE:
        return
    row.graded += 1
    missing = EyeResult(grade=None, score=None, gradable=None)
    eyes = [examination["eyes"].get(side, missing) for side in SIDES]
    # The same rule as the result page (referral.recommendation), on the latest grades.
    row.outcomes[recommendation(*eyes) or "none"] += 1
    row.reviewed += examination["review"] is not None


def _model_and_doctor_grades(examination: dict[str, Any]) -> list[tuple[int, int]]:
    """(model grade, doctor's grade) for each reviewed eye the model graded."""
    review = examination["review"]
    if review is None:
        return []
    eyes = examination["eyes"]
    return [(eyes[side].grade, review[side]) for side in SIDES if side in eyes and eyes[side].grade is not None]


def agreement(pairs: list[tuple[int, int]]) -> dict[str, Any]:
    """How the model's grades compare with the doctors' on the same eyes (the doctor as reference)."""
    classes = [grade.value for grade in Grade]
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for model, doctor in pairs:
        matrix[doctor, model] += 1
    n = int(matrix.sum())
    rows = [{"label": label, "counts": counts} for label, counts in zip(Grade.labels, matrix.tolist(), strict=True)]
    if n == 0:
        return {"eyes": 0, "labels": Grade.labels, "matrix": matrix.tolist(), "rows": rows}
    model, doctor = (np.array(column) for column in zip(*pairs, strict=True))
    # With one grade only kappa is undefined: sklearn warns and returns NaN, shown as "not defined".
    with warnings.catch_warnings(action="ignore", category=UndefinedMetricWarning):
        kappa = cohen_kappa_score(doctor, model, labels=classes, weights="quadratic")
    referable, called = doctor >= Grade.MILD, model >= Grade.MILD
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
    }
