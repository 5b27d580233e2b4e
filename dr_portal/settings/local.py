"""The embedded default for a newcomer's machine (`manage.py runportal`): SQLite, filesystem broker.

DEBUG is off, as a clinic running the README's command needs it: the portal's own 404 and 500 pages, not
Django's debug pages (which list every URL pattern, settings and source). DJANGO_DEBUG=true turns it on for
development. Static files are served either way (WhiteNoise, below); photographs only through the audited
views, never as files."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# A development-only key: production.py has no default and refuses to start without one.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdefghijklmnop")
DEMO_DATA_ALLOWED = True

# Static files straight from the source folders, by WhiteNoise whatever DEBUG says: no collectstatic step
# outside production.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
