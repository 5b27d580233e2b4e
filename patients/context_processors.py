from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from .selectors import membership_for


def membership(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's clinic membership, for the navigation bar."""
    return {"membership": membership_for(_user(request))}


# The warning comes this long before an idle session ends (WCAG 2.2.1 asks for at least 20 seconds to
# answer it); a short idle timeout is warned at half its length.
SESSION_WARNING_SECONDS = 120


def session_timeout(request: HttpRequest) -> dict[str, Any]:
    """The idle timeout the page's warning counts down (static/js/session-timeout.js), for signed-in users."""
    if not _user(request).is_authenticated:
        return {}
    seconds = int(settings.SESSION_COOKIE_AGE)
    return {"session_idle_seconds": seconds, "session_warning_seconds": min(SESSION_WARNING_SECONDS, seconds // 2)}


def _user(request: HttpRequest) -> Any:
    # An error page for a request refused before the authentication middleware ran (a Host header not in
    # ALLOWED_HOSTS: Django's 400) has no user: it is rendered for an anonymous visitor, not as a 500.
    return getattr(request, "user", None) or AnonymousUser()
