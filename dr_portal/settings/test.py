"""Test settings: real PostgreSQL and Redis, as CI runs them."""

from __future__ import annotations

import os

# The services mode is the default under test; the environment can still point elsewhere.
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dr_portal")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/14")

from .base import *  # noqa: F403
from .base import PASSWORD_HASHERS

SECRET_KEY = "test-only-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"
DEBUG = False
DEMO_DATA_ALLOWED = True
# Not the machine's zone: the same times on every machine that runs the tests (a test that needs another
# zone says so with override_settings).
TIME_ZONE = "UTC"
# Hashing cost is irrelevant to what the tests prove; Argon2 stays configured for real runs.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]

# Static files straight from the source folders: no collectstatic step outside production.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
