from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import membership_for


def membership(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's clinic membership, for the navigation bar."""
    return {"membership": membership_for(request.user)}
