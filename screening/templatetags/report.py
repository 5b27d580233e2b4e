"""Template filters for the examination's record (the print page and the PDF report)."""

from __future__ import annotations

from typing import Any

from django import template

from screening.grade_descriptions import description

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
