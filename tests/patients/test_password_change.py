"""Every user changes their own password: old one first, validators on the new one, tokens revoked, audited."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from patients.authentication import token_issue
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a-different-password-2027"


def _change(client, old: str = PASSWORD, new1: str = NEW, new2: str | None = None):
    data = {"old_password": old, "new_password1": new1, "new_password2": new1 if new2 is None else new2}
    return client.post(reverse("password_change"), data)


def _password_is(user, password: str) -> bool:
    user.refresh_from_db()
    return user.check_password(password)


def test_a_user_changes_their_password_and_stays_signed_in(client, owner) -> None:
    client.force_login(owner)
    response = _change(client)
    assert response.status_code == 302 and response.url == reverse("home")
    assert "Your password was changed." in client.get(response.url, follow=True).content.decode()
    assert _password_is(owner, NEW) and not _password_is(owner, PASSWORD)
    # Django rotates the session's password hash: this session goes on working.
    assert client.get(reverse("patients:list")).status_code == 200


def test_the_change_is_audited_without_the_password(client, owner) -> None:
    client.force_login(owner)
    _change(client)
    event = AuditEvent.objects.get(action="password.change")
    assert event.actor == owner
    assert NEW not in str(event.detail) and PASSWORD not in str(event.detail)


def test_the_change_revokes_the_users_api_tokens(client, owner, colleague) -> None:
    token_issue(user=owner)
    token_issue(user=colleague)
    client.force_login(owner)
    _change(client)
    assert not Token.objects.filter(user=owner).exists()
    assert Token.objects.filter(user=colleague).exists()
    assert AuditEvent.objects.get(action="password.change").detail["api_tokens_revoked"] == 1


def test_a_wrong_current_password_changes_nothing(client, owner) -> None:
    client.force_login(owner)
    response = _change(client, old="not-my-password")
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    assert _password_is(owner, PASSWORD)
    assert not AuditEvent.objects.filter(action="password.change").exists()


@pytest.mark.parametrize(
    ("new1", "new2", "message"),
    [
        ("short", None, "too short"),
        ("123456789012345", None, "entirely numeric"),
        (NEW, "something-else-entirely-9", "match"),
    ],
)
def test_a_refused_new_password_is_explained_beside_the_field(client, owner, new1, new2, message) -> None:
    client.force_login(owner)
    response = _change(client, new1=new1, new2=new2)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert _password_is(owner, PASSWORD)


def test_signed_out_visitors_are_sent_to_log_in(client) -> None:
    response = client.get(reverse("password_change"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_every_page_links_to_the_password_change(client, colleague) -> None:
    client.force_login(colleague)
    assert reverse("password_change") in client.get(reverse("patients:list")).content.decode()
