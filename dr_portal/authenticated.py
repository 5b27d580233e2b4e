"""Request types for views only a signed-in user reaches (login_required pages, IsAuthenticated API views):
their `user` is the portal's User, never AnonymousUser, so services that store who acted can take it."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from rest_framework.request import Request


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class AuthenticatedRequest(Request):
    user: User
