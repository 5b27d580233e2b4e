"""DRF's scoped throttles for plain Django views, so the web upload form and the API upload share one
rate and one counter per user (settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest, HttpResponse
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
                    response = HttpResponse(
                        f"Too many uploads: try again in {wait} seconds.", status=429, content_type="text/plain"
                    )
                    response["Retry-After"] = str(wait)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
