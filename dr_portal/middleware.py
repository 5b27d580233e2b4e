"""Request-level guards that must act before anything reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    """413 for a request whose declared body exceeds MAX_REQUEST_BYTES (two photographs at the upload cap,
    plus the form): refused before the CSRF check or a parser streams it to temporary files, so an
    oversized upload cannot fill the disk ahead of the per-photograph caps. (The reverse proxy should cap
    bodies too; this holds where there is none.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from csp.middleware import CSPMiddleware

        self.get_response = get_response
        # This refusal leaves before CSPMiddleware (further down the list) sees the request: the page
        # gets the portal's policy from it here, as every other page does.
        self.csp = CSPMiddleware(get_response)

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
            # nothing reads the body first), so the context processors that need them cannot run.
            from django.template.loader import render_to_string

            page = render_to_string("413.html", {"message": message})
            response = HttpResponse(page, status=413)
            return self.csp.process_response(request, response)
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
            return HttpResponse(message, status=400, content_type="text/plain")
        return self.get_response(request)
