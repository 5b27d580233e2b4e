"""Settings shared by every run mode. Values come from the environment through django-environ.

With neither DATABASE_URL nor CELERY_BROKER_URL set, the portal runs on its embedded default:
SQLite under var/ and kombu's filesystem broker (no server needed), so one command starts it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from dr_portal.converters import MAX_ID
from dr_portal.formats.en import formats
from dr_portal.time_zone import is_zone, server_time_zone

# Django's generic classes (ModelAdmin[Model], ModelForm[Model], ...) subscriptable at run time, as the type
# checker (django-stubs) reads them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# Run-time state of the embedded default (SQLite, the filesystem broker, media): ignored by git.
VAR_DIR = Path(env("DJANGO_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# This machine by any of its local names (the web server of `runportal` listens on 127.0.0.1 by default).
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "dr_portal.admin_site.PortalAdminConfig",  # django.contrib.admin, superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "audit",
    "patients",
    "screening",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before the two refusals below, so that their pages carry the policy too (it reads no body).
    "csp.middleware.CSPMiddleware",
    "dr_portal.middleware.NulHeaderMiddleware",
    "dr_portal.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before CommonMiddleware: its APPEND_SLASH must not redirect an API POST (clients re-send it as a GET).
    "dr_portal.middleware.ApiAddressMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout flagged during authentication into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dr_portal.urls"
WSGI_APPLICATION = "dr_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "patients.context_processors.membership",
                "patients.context_processors.session_timeout",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections: off by default here (each request or task opens its own), on in production
# (production.py). The health check replaces a connection that a database restart broke before use.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write concurrently: wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Transactions take the write lock when they begin: SQLite has no SELECT ... FOR UPDATE, and a check
    # then insert (the duplicate-pair rule) must not interleave with another's.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # SQLite creates its file but not the folder: on a fresh clone var/ does not exist yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses a locked-out username before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "dr_portal.auth_backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The client's address (dr_portal/client_address.py) trusts X-Forwarded-For only as far as this many
# proxies in front of the web server append to it: 0 (no proxy) takes the socket's address, and a client
# cannot choose its own. docker-compose behind its TLS proxy: 1.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 (no proxy in front) or more.")
AXES_CLIENT_IP_CALLABLE = "dr_portal.client_address.client_address"
# Lockout per pair (username, client address). Per username alone, anyone anywhere locked any named
# account (a superuser's too) with five wrong passwords; per address alone, one person's typos locked out
# every colleague behind the clinic's NAT. The pair stops guessing at an account from an address and
# leaves its owner, elsewhere, signing in; the login form's limit per address (LOGIN_THROTTLE_RATE) bounds
# how many accounts one address tries.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dr_portal.auth_backends.lockout_response"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # role-aware: clinic admins land on their accounts page
LOGOUT_REDIRECT_URL = "login"

# Idle timeout: the cookie is refreshed on every request, so it expires after this much inactivity.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=15 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False

# Content-Security-Policy: our own scripts, styles and images only, nothing inline (the pages, the admin
# and the sidecar's Swagger UI need none), so an injected <script> or style attribute does nothing.
# data: images for the Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# A shared cache in production (CACHE_URL=redis://...) so API throttles count across web processes.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

LANGUAGE_CODE = "en-gb"
# Times are stored in UTC (USE_TZ) and shown in this zone on every page, report and export: the clinic's
# local time. Default: the server's own zone (dr_portal/time_zone.py), which is the clinic's on its machine.
TIME_ZONE = env("TIME_ZONE", default="") or server_time_zone(env.ENVIRON)
if not is_zone(TIME_ZONE):
    raise ImproperlyConfigured(f"TIME_ZONE {TIME_ZONE!r} is not a time zone name such as Europe/Berlin or UTC.")
USE_I18N = True
USE_TZ = True
# One way of writing dates and times for people, everywhere (dr_portal/formats/en/formats.py): Django reads
# the locale's formats before these settings, so the module is what counts; the settings name the same
# values for code that reads them directly.
FORMAT_MODULE_PATH = ["dr_portal.formats"]
DATE_FORMAT = formats.DATE_FORMAT
DATETIME_FORMAT = formats.DATETIME_FORMAT

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Media holds patient photographs: never served as public files, only through permission-checked views.
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"

# Uploads: the caps apply to web form and API alike.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env.int("UPLOAD_MAX_PIXELS", default=40_000_000)
# Any request body beyond two photographs at the cap plus the form is refused before it is read.
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=2 * UPLOAD_MAX_BYTES + 1024 * 1024)

# Referral: the seed rule's threshold on |score(right) - score(left)|.
REFERRAL_SCORE_DIFF_THRESHOLD = env.float("REFERRAL_SCORE_DIFF_THRESHOLD", default=0.1)
# Recall: a patient whose newest examination said "rescreen in 12 months" is due this many days after it.
RESCREEN_INTERVAL_DAYS = env.int("RESCREEN_INTERVAL_DAYS", default=365)

# The grading model: the shipped checkpoint unless a path is given.
DR_CHECKPOINT_PATH = env("DR_CHECKPOINT_PATH", default=None)
# Grade an examination's two eyes together (ml/pairing.py) where the checkpoint's card says how. Off by
# default: on the test split it raised QWK (0.399 -> 0.433) but lowered the examinations' referral
# sensitivity (0.524 -> 0.476, a referable patient in twenty more sent home); a screening programme's
# clinical lead weighs that, not a default (docs/model/MODEL_CARD.md).
DR_GRADE_EYES_TOGETHER = env.bool("DR_GRADE_EYES_TOGETHER", default=False)

# Celery. The embedded default is kombu's filesystem transport: a real broker with no server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Exchange bindings; kombu's default is ./control, wherever the process happens to start.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Must outlast the longest task, or Redis hands an unacknowledged task to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ROUTES = {"screening.tasks.*": {"queue": "inference"}}
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Safety: acknowledge after the work is done, give the task back if the worker dies, take one at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", float("inf")) <= CELERY_TASK_TIME_LIMIT:
    # Redis would hand a task still running to a second worker: refuse to start rather than grade twice.
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be well under CELERY_VISIBILITY_TIMEOUT.")

# Grading attempts and the reconciler (screening/grading/attempts.py, heartbeat.py; screening/reconcile.py,
# which beat runs as screening/tasks.py's reconcile_examinations every RECONCILE_EVERY_SECONDS). A worker
# refreshes its attempt's heartbeat every GRADING_HEARTBEAT_SECONDS; the reconciler re-sends an examination
# running with a heartbeat older than RECONCILE_RUNNING_AFTER_SECONDS (its worker died or stopped), and one
# queued for longer than RECONCILE_QUEUED_AFTER_SECONDS whose message the broker no longer holds (lost with
# it). At the defaults the worst cases are 20 + 10 s and 30 + 10 s, plus the grading itself: a clinic sees its
# result within the minute (docs/operations.md has the measured times).
GRADING_HEARTBEAT_SECONDS = env.float("GRADING_HEARTBEAT_SECONDS", default=5.0)
RECONCILE_RUNNING_AFTER_SECONDS = env.int("RECONCILE_RUNNING_AFTER_SECONDS", default=20)
RECONCILE_QUEUED_AFTER_SECONDS = env.int("RECONCILE_QUEUED_AFTER_SECONDS", default=30)
RECONCILE_MAX_ATTEMPTS = env.int("RECONCILE_MAX_ATTEMPTS", default=5)
RECONCILE_EVERY_SECONDS = env.int("RECONCILE_EVERY_SECONDS", default=10)
if GRADING_HEARTBEAT_SECONDS <= 0 or RECONCILE_RUNNING_AFTER_SECONDS < 3 * GRADING_HEARTBEAT_SECONDS:
    # One late beat (a loaded machine, a slow query) must not hand a live grading to a second worker.
    raise ImproperlyConfigured("RECONCILE_RUNNING_AFTER_SECONDS must be at least three GRADING_HEARTBEAT_SECONDS.")
# The result page of an examination waiting this long since its upload says the grading is taking longer than
# usual (the service may be busy or down, the examination is safe). Past the reconciler's worst cases above
# plus a grading: a result not there by then is not the usual wait.
GRADING_SLOW_AFTER_SECONDS = env.int("GRADING_SLOW_AFTER_SECONDS", default=60)
if GRADING_SLOW_AFTER_SECONDS < 0:
    raise ImproperlyConfigured("GRADING_SLOW_AFTER_SECONDS must be 0 or more.")
CELERY_BEAT_SCHEDULE = {
    "reconcile-examinations": {
        "task": "screening.reconcile_examinations",
        "schedule": RECONCILE_EVERY_SECONDS,
        # Default queue, not inference: it must not wait behind a backlog of gradings. A pass that could not
        # start within a minute is dropped (the next one does the same work): no pile-up while no worker is up,
        # yet a pass still runs after a grading that took longer than one period.
        "options": {"queue": "celery", "expires": max(60, RECONCILE_EVERY_SECONDS)},
    },
}

# API tokens expire like sessions do, only later: a client asks for a new one at POST /api/v1/auth/token/.
API_TOKEN_LIFETIME_SECONDS = env.int("API_TOKEN_LIFETIME_SECONDS", default=8 * 60 * 60)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "patients.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that answers 400 (not 500) to a body nested too deeply.
    "DEFAULT_PARSER_CLASSES": [
        "dr_portal.api_parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Services raise Django's ValidationError/PermissionDenied; this turns them into 400/403 answers.
    "EXCEPTION_HANDLER": "dr_portal.api_exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env("API_UPLOAD_THROTTLE_RATE", default="30/minute"),
        "token": env("API_TOKEN_THROTTLE_RATE", default="20/minute"),
        # Login form POSTs per client address (the lockout counts failures per account on top).
        "login": env("LOGIN_THROTTLE_RATE", default="30/minute"),
    },
    # DRF's own reading of X-Forwarded-For, should a throttle of its own be used: as dr_portal.client_address.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DR Portal API",
    "DESCRIPTION": "Diabetic-retinopathy screening: patients, paired-eye examinations, grades and reviews.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its page for signed-in users only (session or token): an anonymous visitor of a clinical
    # portal sees the login page, not a map of every operation, parameter and bound (docs/security.md).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from our own static files: nothing fetched from a CDN, and the strict CSP holds.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Ids in paths (`<id:...>`, dr_portal/converters.py): integers up to the database's largest.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
    # One name for the three grades wherever they appear (model grade, review grades).
    "ENUM_NAME_OVERRIDES": {
        "GradeEnum": "screening.models.Grade.choices",
        "RecommendationEnum": "screening.serializers.RECOMMENDATION_CHOICES",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "dr_portal.api_schema.document_errors"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # WeasyPrint (the PDF report) logs every step of every rendering at INFO.
    "loggers": {"weasyprint.progress": {"level": "WARNING"}},
}
