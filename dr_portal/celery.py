"""The Celery application: configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dr_portal.settings.local")

app = Celery("dr_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport (the embedded default) needs its folders to exist. After, not on,
    # configure: reading sender.conf inside on_configure re-enters the configuration and recurses.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


# A Redis that accepts connections but does not answer (frozen, swapping, a network path that drops
# packets) made every send wait for ever: kombu sets no socket timeout of its own. The upload's send runs
# in the request, after the commit, so the operator's upload hung, as did the reconciler's pass. With these,
# a send gives up within seconds, the examination stays queued, and the reconciler sends it later.
REDIS_SOCKET_TIMEOUTS = {"socket_timeout": 3.0, "socket_connect_timeout": 3.0}


@app.on_after_configure.connect
def _bound_redis_waits(sender: Celery, **kwargs: object) -> None:
    if not str(sender.conf.broker_url or "").startswith(("redis://", "rediss://")):
        return
    options = dict(sender.conf.broker_transport_options or {})
    # Above kombu's one-second BRPOP polling, so an idle worker's wait for work never times out.
    sender.conf.broker_transport_options = {**REDIS_SOCKET_TIMEOUTS, **options}


@app.task(name="dr_portal.ping")
def ping() -> str:
    """Health check: proves a worker consumes from the broker and can answer."""
    return "pong"
