"""The client's network address, the one definition that the throttles, the lockout and the audit trail use.

X-Forwarded-For is written by whoever sends the request: only the entries that our own proxies appended
can be trusted, and settings.TRUSTED_PROXY_COUNT says how many proxies there are (0: none, the socket's
address is the client's). Each proxy appends the address it was connected from, so with N proxies the
client is the N-th entry from the right; anything left of it is the client's own text. Trusting the header
with no proxy in front let a client pick a new address per request and escape every per-address limit.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The address the request came from, as far as the trusted proxies vouch for it."""
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count == 0 or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    if len(entries) < count:
        # Fewer hops than proxies: the request did not come through all of them (a client reaching the
        # server directly), so every entry may be its own. The nearest peer is all that is known.
        return remote
    return _valid(entries[-count]) or remote


def _valid(text: str) -> str | None:
    # The audit trail and django-axes store it as an IP address: a malformed entry (a proxy's bug) must not
    # fail the request.
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
