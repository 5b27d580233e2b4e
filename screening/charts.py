"""What the pages draw, as numbers: the result page's confidence bars and the patient page's chart of each
eye's grade over time (SVG coordinates). The templates draw them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .grade_descriptions import description
from .models import SIDES, Grade, Side

CHART_WIDTH = 600
CHART_HEIGHT = 160
CHART_PAD = 30
# The grade labels end at CHART_LABELS: wide enough for "Mild-moderate NPDR (ICDR 1-2)" at the axis's size.
CHART_LABELS = 180
CHART_LEFT, CHART_RIGHT = CHART_LABELS + 20, CHART_WIDTH - CHART_PAD  # the time axis, right of the grade labels
# Each eye's line sits a few pixels off its grade's gridline (right above, left below): when both eyes
# have the same grade, as they mostly do, one eye's dots and line would otherwise hide the other's.
EYE_DODGE = {Side.RIGHT: -4.0, Side.LEFT: 4.0}


def grade_chart(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """SVG coordinates of each eye's model grade (and reviewed grade) over time, oldest on the left."""
    points = [
        (item["examination"].created_at, item["eyes"])
        for item in reversed(history)
        if any(eye["grade"] is not None for eye in item["eyes"].values())
    ]
    if not points:
        return None
    times = [when for when, _ in points]
    series: dict[str, dict[str, Any]] = {}
    for side in SIDES:
        dodge = EYE_DODGE[side]
        model = [
            (_x(when, times), _y(eyes[side]["grade"]) + dodge, when)
            for when, eyes in points
            if eyes[side]["grade"] is not None
        ]
        reviewed = [
            (_x(when, times), _y(eyes[side]["reviewed_grade"]) + dodge, when)
            for when, eyes in points
            # A doctor's "Ungradable" is no severity: no ring on the grade scale.
            if eyes[side]["reviewed_grade"] in Grade.values
        ]
        series[side] = {
            "polyline": " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in model),
            "points": [{"x": round(x, 1), "y": round(y, 1), "when": when} for x, y, when in model],
            "reviewed": [{"x": round(x, 1), "y": round(y, 1), "when": when} for x, y, when in reviewed],
        }
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "series": series,
        "levels": [{"y": round(_y(grade.value), 1), "label": description(grade.value)} for grade in Grade],
        "labels_x": CHART_LABELS,
        "left": CHART_LEFT,
        "first": times[0],
        "last": times[-1],
        # One date under the middle when every examination fell on the same day, not the same date twice.
        "one_day": times[0].date() == times[-1].date(),
        "middle": (CHART_LEFT + CHART_RIGHT) / 2,
    }


def _x(when: datetime, times: list[datetime]) -> float:
    span = (times[-1] - times[0]).total_seconds()
    if span <= 0:
        return (CHART_LEFT + CHART_RIGHT) / 2
    return CHART_LEFT + (CHART_RIGHT - CHART_LEFT) * (when - times[0]).total_seconds() / span


def _y(grade: int) -> float:
    top, bottom = CHART_PAD / 2, CHART_HEIGHT - CHART_PAD
    return bottom - (bottom - top) * grade / (len(Grade) - 1)


def whole_percentages(confidences: dict[str, float]) -> dict[str, int]:
    """The confidences as whole percentages that add up to 100 (largest remainders): rounded one by one,
    0.3756 / 0.5254 / 0.099 showed as 38 / 53 / 10, which a reader adds up to 101."""
    exact = {label: value * 100 for label, value in confidences.items()}
    whole = {label: int(value) for label, value in exact.items()}
    short = round(sum(exact.values())) - sum(whole.values())
    for label in sorted(exact, key=lambda name: exact[name] - whole[name], reverse=True)[: max(short, 0)]:
        whole[label] += 1
    return whole


def confidence_bars(confidences: dict[str, float]) -> list[tuple[str, float, int]]:
    """(label, confidence, whole percentage) per class, for the result page's bars."""
    percent = whole_percentages(confidences)
    return [(label, value, percent[label]) for label, value in confidences.items()]
