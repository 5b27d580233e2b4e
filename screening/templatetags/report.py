"""Template filters for the examination's record (the print page and the PDF report)."""

from __future__ import annotations

from typing import Any

from django import template

from screening.grade_descriptions import description
from screening.models import ReviewGrade

register = template.Library()


@register.filter
def grade_description(grade: int | None) -> str:
    """ "Mild-moderate NPDR (ICDR 1-2)" for the class Mild: what the class covers, in the clinician's terms."""
    return description(grade)


@register.filter
def person(user: Any) -> str:
    """A user as a signature names them: full name where the account has one, else the username."""
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


@register.filter
def doctor_name(user: Any) -> str:
    """A signing doctor as the record names them: "Dr Ada Quist" (not twice "Dr" where the name has it)."""
    name = person(user)
    return name if not name or name.lower().startswith(("dr ", "dr.")) else f"Dr {name}"


@register.filter
def review_grade_text(grade: int | None) -> str:
    """A doctor's grade of an eye for the record: "Mild: Mild-moderate NPDR (ICDR 1-2)", or for Ungradable
    "Ungradable photograph (retake)"."""
    if grade is None:
        return ""
    if grade == ReviewGrade.UNGRADABLE:
        return f"{description(grade)} (retake)"
    return f"{ReviewGrade(grade).label}: {description(grade)}"
