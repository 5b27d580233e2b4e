"""Authentication wiring: django-axes' lockout check (tolerant of calls made without a request) and the
answer a locked-out login gets."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out username, from the address it was locked out at, at every web login (the login
    page and the API token endpoint pass the request). Calls without a request come from code in this
    process (the test client, the shell), not from a client on the network, so there is nothing to count
    and nothing to lock: axes itself would raise there, breaking `Client.login()`."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        # axes' check returns nothing: it raises for a locked-out username, and lets the next backend decide.
        super().authenticate(request, *args, **kwargs)
        return None


def lockout_response(
    request: HttpRequest, credentials: dict[str, Any] | None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """What a locked-out login gets: a page on the site, JSON on the API (429 either way)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"Too many failed logins for this account from this address: try again in {minutes} minutes, or ask "
        "your clinic admin to reset your password."
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    return render(request, "registration/locked_out.html", {"message": message}, status=429)
