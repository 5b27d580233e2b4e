"""Authentication wiring: django-axes' lockout check, tolerant of calls made without a request."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LockoutBackend(AxesStandaloneBackend):
    """Refuses locked-out usernames at every web login (the login page and the API token endpoint pass
    the request). Calls without a request come from code in this process (the test client, the shell),
    not from a client on the network, so there is nothing to count and nothing to lock: axes itself would
    raise there, breaking `Client.login()`."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
