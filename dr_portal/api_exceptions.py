"""The API's exception handler: services speak Django's exceptions, clients get DRF's answers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map a service's ValidationError to a 400 with per-field messages (never a 500), and its
    PermissionDenied to a 403, then let DRF render it as usual."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_as_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


def _as_detail(exc: DjangoValidationError) -> dict[str, list[str]] | list[str]:
    if hasattr(exc, "error_dict"):
        # Django's NON_FIELD_ERRORS key is "__all__"; DRF clients expect "non_field_errors".
        return {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}
