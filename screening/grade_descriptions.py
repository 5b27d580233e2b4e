"""What a clinician reads for each class (docs/DESIGN.md, "Classes"): the API keeps its stable keys ("No DR",
"Mild", "Proliferative"); the report, the FHIR export and the pages say what each one covers."""

from __future__ import annotations

from .models import Grade, ReviewGrade

DESCRIPTIONS: dict[int, str] = {
    Grade.NO_DR: "No DR (ICDR 0)",
    Grade.MILD: "Mild-moderate NPDR (ICDR 1-2)",
    Grade.PROLIFERATIVE: "Severe NPDR or PDR (ICDR 3-4)",
}
# An eye whose photograph cannot be graded (the quality check failed; a doctor's "Ungradable" review).
UNGRADABLE = "Ungradable photograph"


# A doctor's choices for an eye, as the review and amend forms offer them: the classes, then Ungradable.
REVIEW_CHOICES: list[tuple[int, str]] = [*DESCRIPTIONS.items(), (ReviewGrade.UNGRADABLE, UNGRADABLE)]


def description(grade: int | None) -> str:
    """The class's description, or UNGRADABLE for a doctor's "Ungradable" ("" for no grade)."""
    if grade == ReviewGrade.UNGRADABLE:
        return UNGRADABLE
    return DESCRIPTIONS.get(grade, "") if grade is not None else ""
