"""Authentication events on the audit trail: logins, logouts, failed logins and lockouts."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from .services import record_event


@receiver(user_logged_in, dispatch_uid="audit.login")
def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record_event(action="auth.login", request=_real(request), actor=user)


@receiver(user_logged_out, dispatch_uid="audit.logout")
def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # user is None when the session had already expired: there is nobody to log out, nothing to record.
    if user is not None:
        record_event(action="auth.logout", request=_real(request), actor=user)


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Django has already masked the password in credentials; only the username as typed is kept.
    username = str(credentials.get("username") or "")[:150]
    record_event(action="auth.login_failed", request=_real(request), username=username)


@receiver(user_locked_out, dispatch_uid="audit.locked_out")
def _locked_out(sender: Any, request: HttpRequest | None, username: str | None, ip_address: str, **kwargs: Any) -> None:
    record_event(action="auth.locked_out", request=_real(request), username=str(username or "")[:150])


def _real(request: Any) -> HttpRequest | None:
    # DRF hands its Request wrapper to authenticate(); the audit wants the underlying HttpRequest's META.
    real: HttpRequest | None = getattr(request, "_request", request)
    return real
