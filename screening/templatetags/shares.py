"""Template filters for figures shown to clinic staff."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(share: float | None) -> str:
    """A share (0-1) as a whole percentage ("34%"), or "—" where there is none: the statistics page gives
    its other figures as percentages, and bare decimals beside them read as something else."""
    return "—" if share is None else f"{round(share * 100)}%"


@register.filter
def interval(figure: dict[str, Any] | None) -> str:
    """A proportion's 95% interval as the page says it ("95% CI 68 to 100%"), "" where there is none."""
    if figure is None:
        return ""
    return f"95% CI {round(figure['low'] * 100)} to {round(figure['high'] * 100)}%"
