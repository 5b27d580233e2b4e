"""gunicorn settings for the web service (docker-compose and bench/load.py); each can be overridden by its
GUNICORN_* environment variable. Static files are served by WhiteNoise inside Django, so no proxy is
needed for them; TLS ends at whatever proxy sits in front."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Threads, not only processes: uploads of two photographs are slow to arrive over a clinic's line, and a
# sync worker would sit idle on each one. The work is database and image decoding, which releases the GIL.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# An upload is validated (decoded, hashed, quality-checked) in the request: give it time, but bounded.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle processes now and then so a slow leak in an image library never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# The proxy in front sets X-Forwarded-Proto; Django's SECURE_PROXY_SSL_HEADER trusts it. gunicorn keeps
# REMOTE_ADDR the socket's peer (the proxy): the client's address is read from X-Forwarded-For by
# dr_portal/client_address.py, as far as TRUSTED_PROXY_COUNT says.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
