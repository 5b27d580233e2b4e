"""Addresses a browser or a person asks for by hand: answered, not a blank error page."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_favicon_address_leads_to_the_portals_icon(client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")
    assert client.get(response["Location"]).status_code == 200


def test_a_typed_logout_address_offers_the_logout_button(client, owner) -> None:
    client.force_login(owner)
    page = client.get(reverse("logout"))
    assert page.status_code == 200
    assert f'action="{reverse("logout")}"' in page.content.decode() and owner.username in page.content.decode()
    assert "_auth_user_id" in client.session  # a GET signs no one out
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_logout_address_sends_a_signed_out_visitor_to_the_login_page(client) -> None:
    response = client.get(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
