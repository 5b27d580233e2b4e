"""API tokens that expire: a session idles out after minutes, so a token must not live for ever."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_lifetime() -> timedelta:
    return timedelta(seconds=settings.API_TOKEN_LIFETIME_SECONDS)


def token_is_expired(token: Token) -> bool:
    return bool(token.created < timezone.now() - token_lifetime())


@transaction.atomic
def token_issue(*, user: User) -> Token:
    """The user's token, replaced by a fresh one when it has expired."""
    token, created = Token.objects.select_for_update().get_or_create(user=user)
    if not created and token_is_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        if "\x00" in key:
            # No key holds one, and PostgreSQL refuses NUL in a query's text (a 500 before).
            raise AuthenticationFailed("Invalid token.")
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            raise AuthenticationFailed("Token expired: request a new one.")
        return user, token
