"""The client's address comes from the socket, or from X-Forwarded-For only as far as TRUSTED_PROXY_COUNT
proxies vouch for it: the throttles, the lockout and the audit trail cannot be escaped or misled by a header
the client writes. The login form is limited per address too."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from audit.models import AuditEvent
from dr_portal.client_address import client_address

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small rates, so that a few requests reach them; the rates are read into the class.
    small = {**ScopedRateThrottle.THROTTLE_RATES, "token": "3/minute", "login": "3/minute"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", small)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no proxy: the header is the client's own text
        (1, "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the entry the proxy appended
        (2, "198.51.100.7, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer hops than proxies: the request went round them
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_the_client_address_trusts_only_what_the_proxies_appended(settings, proxies, forwarded, expected) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_a_new_forwarded_header_does_not_escape_the_token_throttle(owner, rates) -> None:
    api = APIClient()
    wrong = {"username": "owner", "password": "wrong-password-123"}
    for n in range(3):
        assert api.post(TOKEN, wrong, format="json", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code == 400
    # The attack: the same request with a header value never seen before.
    response = api.post(TOKEN, wrong, format="json", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429
    # Another client (socket address) has its own count.
    assert api.post(TOKEN, wrong, format="json", REMOTE_ADDR="10.7.7.7").status_code == 400


def test_behind_a_proxy_each_client_address_has_its_own_token_count(owner, rates, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    api = APIClient()
    wrong = {"username": "owner", "password": "wrong-password-123"}
    for n in range(3):
        # What the client put in front of the proxy's entry changes nothing.
        response = api.post(TOKEN, wrong, format="json", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.9")
        assert response.status_code == 400
    assert api.post(TOKEN, wrong, format="json", HTTP_X_FORWARDED_FOR="192.0.2.9, 203.0.113.9").status_code == 429
    assert api.post(TOKEN, wrong, format="json", HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 400


def test_the_login_form_is_limited_per_client_address(owner, colleague, password, rates) -> None:
    client = Client()
    for username in ("a", "b", "c"):  # a different account each time: no lockout
        assert client.post(reverse("login"), {"username": username, "password": "x" * 12}).status_code == 200
    refused = client.post(reverse("login"), {"username": "owner", "password": password})
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 61
    assert "Too many logins: try again in" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("login")).status_code == 200  # the form still opens
    # From elsewhere, and with the right password, a colleague signs in.
    other = Client(REMOTE_ADDR="10.8.8.8")
    assert other.post(reverse("login"), {"username": "colleague", "password": password}).status_code == 302


def test_behind_a_proxy_the_trail_and_the_lockout_record_the_clients_address(owner, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR="172.18.0.1", HTTP_X_FORWARDED_FOR="192.0.2.50, 203.0.113.9")
    client.post(reverse("login"), {"username": "owner", "password": "wrong-password-123"})
    assert AuditEvent.objects.get(action="auth.login_failed").ip_address == "203.0.113.9"
    assert AccessAttempt.objects.get(username="owner").ip_address == "203.0.113.9"
