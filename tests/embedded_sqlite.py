"""Run a script against the embedded default (local settings, SQLite) on a fresh database file: the suite
itself runs on PostgreSQL, and some faults were SQLite's alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_on_embedded_sqlite(script: str, folder: Path) -> Any:
    """The JSON the script prints last, run with Django set up on a new SQLite file in folder."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "dr_portal.settings.local",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
