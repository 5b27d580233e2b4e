"""`manage.py runportal`, the README's run command, as a real process on the embedded default."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> set[int]:
    """Direct children of a process, read from /proc (Linux)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_worker_and_the_web_server_too(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="dr_portal.settings.local", DJANGO_VAR_DIR=str(tmp_path / "var"))
    command = [sys.executable, "manage.py", "runportal", "--no-demo", "--addrport", f"127.0.0.1:{_free_port()}"]
    portal = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(children) < 2 and time.monotonic() < deadline:  # the worker and the web server
            time.sleep(0.5)
            children = _children(portal.pid)
        assert len(children) == 2, f"runportal did not start both processes: {children}"
        portal.send_signal(signal.SIGTERM)
        assert portal.wait(timeout=60) == 0
        time.sleep(0.5)
        assert not [pid for pid in children if _alive(pid)], "SIGTERM left the worker or web server running"
    finally:
        if portal.poll() is None:
            portal.kill()
        for pid in children:  # never leave a worker behind, whatever failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
