"""Request-level guards that must act before anything reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve


class RequestSizeLimitMiddleware:
    """413 for a request whose declared body exceeds MAX_REQUEST_BYTES (two photographs at the upload cap,
    plus the form): refused before the CSRF check or a parser streams it to temporary files, so an
    oversized upload cannot fill the disk ahead of the per-photograph caps. (The reverse proxy should cap
    bodies too; this holds where there is none.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES:
            limit = settings.MAX_REQUEST_BYTES // (1024 * 1024)
            message = f"The request is larger than {limit} MB."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            # A page in the portal's layout (text/plain before). Rendered without the request: the
            # session and the user are not loaded yet (their middleware comes later, and must, so that
            # nothing reads the body first), so the context processors that need them cannot run. The
            # Content-Security-Policy middleware comes before this one, so the page gets its policy.
            return HttpResponse(render_to_string("413.html", {"message": message}), status=413)
        return self.get_response(request)


class NulHeaderMiddleware:
    """400 for a request with a NUL byte in a header. HTTP forbids one there (RFC 9110, 5.5), and a reverse
    proxy usually refuses it, but the portal must not depend on one: PostgreSQL text cannot hold NUL, so a
    crafted User-Agent turned every audited request, and django-axes' record of a failed login, into a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any(name.startswith("HTTP_") and "\x00" in str(value) for name, value in request.META.items()):
            message = "A request header holds a NUL byte."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            # The portal's 400 page, rendered without the request (nothing of it is trusted yet).
            return HttpResponse(render_to_string("400.html"), status=400)
        return self.get_response(request)


class ApiAddressMiddleware:
    """Under /api/: an address missing its trailing slash answers a JSON 404 that names the right one, and
    every error is JSON.

    Django's APPEND_SLASH redirected `POST /api/v1/patients` with a 301, which clients follow as a GET: the
    registration silently became a list (with DEBUG on it was a 500). And with DEBUG on, as in the embedded
    default, Django's own HTML pages answered unknown API paths and refused requests, where the API
    promises `{"detail": ...}`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        if not request.path_info.endswith("/") and _resolves(request.path_info + "/"):
            message = f"No such address: API addresses end in a slash ({request.path}/)."
            return JsonResponse({"detail": message}, status=404)
        response = self.get_response(request)
        if response.status_code >= 400 and response.get("Content-Type", "").startswith("text/html"):
            # Worded as the error handlers word theirs ("Not found.", "Bad request.").
            return JsonResponse({"detail": response.reason_phrase.capitalize() + "."}, status=response.status_code)
        return response


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True
