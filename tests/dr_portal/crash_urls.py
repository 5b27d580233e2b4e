"""The portal's URLs plus two that crash, for the error-page tests (handlers taken from dr_portal.urls)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from dr_portal.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a deliberate fault for the test")


urlpatterns = [path("crash/", crash), path("api/v1/crash/", crash), *urlpatterns]
