from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from .selectors import membership_for


def membership(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's clinic membership, for the navigation bar."""
    return {"membership": membership_for(request.user)}


# The warning comes this long before an idle session ends (WCAG 2.2.1 asks for at least 20 seconds to
# answer it); a short idle timeout is warned at half its length.
SESSION_WARNING_SECONDS = 120


def session_timeout(request: HttpRequest) -> dict[str, Any]:
    """The idle timeout the page's warning counts down (static/js/session-timeout.js), for signed-in users."""
    if not request.user.is_authenticated:
        return {}
    seconds = int(settings.SESSION_COOKIE_AGE)
    return {"session_idle_seconds": seconds, "session_warning_seconds": min(SESSION_WARNING_SECONDS, seconds // 2)}
