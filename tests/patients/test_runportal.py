"""`manage.py runportal`, the README's run command, as a real process on the embedded default."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ops.conftest import ARRANGED
from tests.ops.faults import PhotographOnHold

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


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _worker(children: set[int]) -> int | None:
    return next((pid for pid in children if " worker " in _cmdline(pid)), None)


def _embedded_env(var: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    }
    env.update(DJANGO_SETTINGS_MODULE="dr_portal.settings.local", DJANGO_VAR_DIR=str(var), **extra)
    env.pop("DJANGO_MEDIA_ROOT", None)
    return env


def _start(env: dict[str, str], port: int | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "manage.py", "runportal", "--no-demo", "--addrport", f"127.0.0.1:{port or _free_port()}"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_children(portal: subprocess.Popen[str], count: int, timeout: float = 120) -> set[int]:
    children: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(children) < count and time.monotonic() < deadline:
        time.sleep(0.5)
        children = _children(portal.pid)
    return children


def _stop_portal(portal: subprocess.Popen[str], children: set[int]) -> None:
    if portal.poll() is None:
        portal.kill()
    for pid in children:  # never leave a worker (or its pool process) behind, whatever failed
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:  # runportal starts the worker and beat as leaders of their groups
                    os.killpg(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_the_worker_beat_and_the_web_server_too(tmp_path: Path) -> None:
    portal = _start(_embedded_env(tmp_path / "var"))
    children: set[int] = set()
    try:
        children = _wait_for_children(portal, 3)  # the worker, beat and the web server
        assert len(children) == 3, f"runportal did not start all three processes: {children}"
        assert any(" beat " in _cmdline(pid) for pid in children)
        portal.send_signal(signal.SIGTERM)
        assert portal.wait(timeout=60) == 0
        time.sleep(0.5)
        assert not [pid for pid in children if _alive(pid)], "SIGTERM left the worker, beat or web server running"
    finally:
        _stop_portal(portal, children)


# An examination uploaded through the real service on the embedded default (SQLite, the filesystem broker,
# media under DJANGO_VAR_DIR) before the portal starts: its grading message waits in the broker's folder.
UPLOAD = """
import json, sys
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.core.files.uploadedfile import SimpleUploadedFile
from patients.models import Role
from screening.services import examination_create
from tests.factories import PatientFactory, member
patient = PatientFactory.create()
user = member(clinic=patient.clinic, role=Role.STAFF)
folder = Path(sys.argv[1])
def photograph(name):
    return SimpleUploadedFile(Path(name).name, (folder / name).read_bytes(), content_type="image/jpeg")
examination = examination_create(
    user=user, patient=patient, right_eye=photograph("2/1002_right.jpeg"), left_eye=photograph("3/1002_left.jpeg")
)
print(json.dumps({"id": examination.pk, "right": examination.images.get(side="right").file.path}))
"""


def _grading(database: Path, examination_id: int) -> tuple[str, int, list[int]]:
    with sqlite3.connect(database, timeout=20) as db:
        status, attempts = db.execute(
            "SELECT status, attempts FROM screening_examination WHERE id = ?", [examination_id]
        ).fetchone()
        written = db.execute(
            "SELECT p.attempt FROM screening_prediction p JOIN screening_eyeimage e ON p.eye_image_id = e.id"
            " WHERE e.examination_id = ?",
            [examination_id],
        ).fetchall()
    return status, attempts, sorted(row[0] for row in written)


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.2)


def test_on_the_embedded_default_a_killed_worker_is_started_again_and_its_examination_graded_within_the_minute(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    var = tmp_path / "var"
    env = _embedded_env(var, DR_CHECKPOINT_PATH=str(tiny_checkpoint))
    uploaded = subprocess.run(
        [sys.executable, "-c", UPLOAD, str(ARRANGED)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert uploaded.returncode == 0, uploaded.stderr[-3000:]
    examination = json.loads(uploaded.stdout.strip().splitlines()[-1])
    database = var / "db.sqlite3"
    hold = PhotographOnHold(Path(examination["right"]))  # the worker will wait there, mid-grading
    portal = _start(env)
    children: set[int] = set()
    try:
        _until(lambda: _grading(database, examination["id"])[:2] == ("running", 1), 180, "the worker's claim")
        children = _children(portal.pid)
        doomed = _worker(children)
        assert doomed is not None, children
        hold.put_back()
        # The worker and its pool process, at once, as the kernel's OOM killer or a lost node would. The
        # filesystem broker never hands its message out again: only the heartbeat tells the reconciler.
        os.killpg(doomed, signal.SIGKILL)
        killed = time.monotonic()
        _until(lambda: _grading(database, examination["id"])[0] == "done", 180, "the grading")
        recovered = time.monotonic() - killed
        assert recovered <= 60, f"graded {recovered:.0f} s after the kill"
        assert _grading(database, examination["id"]) == ("done", 2, [2, 2])
        children = _children(portal.pid)
        assert _worker(children) not in (None, doomed)
        portal.send_signal(signal.SIGTERM)
        output, _ = portal.communicate(timeout=60)
        assert "The grading worker stopped (exit status -9); starting it again." in output
    finally:
        hold.close()
        _stop_portal(portal, children | _children(portal.pid))


def _get(url: str, host: str | None = None) -> tuple[int, str, str]:
    """(status, Content-Type, body) of a GET, error answers included."""
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_the_run_command_serves_friendly_error_pages_and_static_files_with_debug_off(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path / "var")
    env.pop("DJANGO_DEBUG", None)  # the README's command as a newcomer runs it: nothing set
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    portal = _start(env, port)
    children: set[int] = set()
    try:
        _until(lambda: _answers(f"{base}/accounts/login/"), 180, "the web server")
        children = _children(portal.pid)

        status, content_type, body = _get(f"{base}/no-such-page/")
        # The portal's own page: no URL patterns, no settings, no "DEBUG = True" advice.
        assert (status, content_type) == (404, "text/html; charset=utf-8")
        assert "There is no such page or record here." in body
        assert "URLconf" not in body and "urlpatterns" not in body and "DEBUG" not in body
        assert "api/v1/" not in body and "admin/" not in body

        status, content_type, body = _get(f"{base}/static/css/portal.css")  # WhiteNoise, with DEBUG off
        assert status == 200 and content_type.startswith("text/css") and "--accent" in body
        assert _get(f"{base}/static/js/image-viewer.js")[0] == 200
        assert _get(f"{base}/media/anything.jpg")[0] == 404  # photographs only through the audited views
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):  # this machine by its usual names
            assert _get(f"{base}/accounts/login/", host=host)[0] == 200
        assert _get(f"{base}/accounts/login/", host="portal.example.org")[0] == 400  # and no other
    finally:
        _stop_portal(portal, children | _children(portal.pid))


def _answers(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except OSError:
        return False  # not listening yet
