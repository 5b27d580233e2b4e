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


@app.task(name="dr_portal.ping")
def ping() -> str:
    """Health check: proves a worker consumes from the broker and can answer."""
    return "pong"
