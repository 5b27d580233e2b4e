"""Template filters for figures shown to clinic staff."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(share: float | None) -> str:
    """A share (0-1) as a whole percentage ("34%"), or "—" where there is none: the statistics page gives
    its other figures as percentages, and bare decimals beside them read as something else."""
    return "—" if share is None else f"{round(share * 100)}%"
