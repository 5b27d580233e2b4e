"""DRF's scoped throttles for plain Django views, so the web upload form and the API upload share one
rate and one counter per user (settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

The API's own views keep DRF's throttle and its JSON 429; this decorator answers the pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import ScopedRateThrottle

View = Callable[..., HttpResponse]


def throttle_posts(scope: str) -> Callable[[View], View]:
    """Answer 429 to a POST over the scope's rate; GETs (the empty form) are never counted."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                throttle = ScopedRateThrottle()
                if not throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):  # type: ignore[arg-type]
                    wait = int(throttle.wait() or 60) + 1
                    response = _too_many(request, f"Too many uploads: try again in {wait} seconds.")
                    response["Retry-After"] = str(wait)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _too_many(request: HttpRequest, message: str) -> HttpResponse:
    # JSON under /api/, as every other refusal there (the API's own views use DRF's throttle directly).
    # A page elsewhere, in the portal's layout (a bare text/plain document before), with a way back to
    # the form: the path is this view's own, resolved, so the link cannot lead off the portal.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    return render(request, "429.html", {"message": message, "back_url": request.path}, status=429)
