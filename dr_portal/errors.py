"""Error answers: JSON under /api/ (what an API client parses), pages in the portal's layout elsewhere.

Django's defaults answer a bare "Not Found" or "Forbidden" document everywhere, also to API clients
that expect `{"detail": ...}` like every other API error (DRF renders errors raised inside its views
itself; these handlers answer the rest: unknown /api/ paths, ids the URL pattern refuses, crashes).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": str(exception) or "You do not have permission to do this."}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Server error: the request was not completed. It has been logged."}, status=500)
    return defaults.server_error(request)
