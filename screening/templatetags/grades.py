"""Template filters for the grades a clinician reads: what each class covers ("Severe NPDR or PDR (ICDR
3-4)", not the API's key "Proliferative"), and the colour family its confidence bar is drawn in."""

from __future__ import annotations

from django import template

from screening.grade_descriptions import description
from screening.models import Grade

register = template.Library()

# The bar's colour family per class: green for no DR, amber for mild-moderate, red for severe or PDR.
TONES: dict[int, str] = {Grade.NO_DR: "no-dr", Grade.MILD: "mild", Grade.PROLIFERATIVE: "severe"}


def _grade(value: int | str | None) -> int | None:
    """The class of a grade number or of one of the API's stable keys ("No DR", "Mild", "Proliferative")."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.isdigit():
        return next((grade.value for grade in Grade if grade.label == value), None)
    return int(value)


@register.filter
def grade_label(value: int | str | None) -> str:
    """The class's name as the pages say it: "Mild" (or 1) -> "Mild-moderate NPDR (ICDR 1-2)". A value
    that is no class of the model (a review's other choices) is shown as it is; None as ""."""
    grade = _grade(value)
    return description(grade) or ("" if value is None else str(value))


@register.filter
def grade_tone(value: int | str | None) -> str:
    """The colour family of a class's bar ("no-dr", "mild", "severe"); "" for anything else."""
    grade = _grade(value)
    return TONES.get(grade, "") if grade is not None else ""
