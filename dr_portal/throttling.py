"""The portal's throttle (DRF's scoped one, counting per user, or per client address for anonymous
requests) and a decorator that applies it to plain Django views, so the web upload form and the API
upload share one rate and one counter per user (settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

The API's own views use the throttle class and DRF's JSON 429; the decorator answers the pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import ScopedRateThrottle

from .client_address import client_address

View = Callable[..., HttpResponseBase]


class ScopedThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, with an anonymous client counted by the address that dr_portal.client_address
    vouches for: DRF's own reading trusted any X-Forwarded-For with no proxy count set, so a new header
    value per request escaped the token endpoint's limit."""

    def get_ident(self, request: Any) -> str:
        return client_address(request) or ""


def throttle_posts(scope: str, what: str) -> Callable[[View], View]:
    """Answer 429 to a POST over the scope's rate; GETs (the empty form) are never counted. `what` names
    the requests counted in the answer ("uploads", "logins")."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method == "POST":
                throttle = ScopedThrottle()
                if not throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):  # type: ignore[arg-type]
                    wait = int(throttle.wait() or 60) + 1
                    response = _too_many(request, what, f"Too many {what}: try again in {wait} seconds.")
                    response["Retry-After"] = str(wait)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _too_many(request: HttpRequest, what: str, message: str) -> HttpResponse:
    # JSON under /api/, as every other refusal there (the API's own views use DRF's throttle directly).
    # A page elsewhere, in the portal's layout (a bare text/plain document before), with a way back to
    # the form: the path is this view's own, resolved, so the link cannot lead off the portal.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    context = {"title": f"Too many {what}", "message": message, "back_url": request.path}
    return render(request, "429.html", context, status=429)
