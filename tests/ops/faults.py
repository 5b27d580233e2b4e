"""Fault injection for the ops tests: a worker killed outright, a Redis of our own to restart, and a TCP
proxy in front of PostgreSQL that can refuse connections, so the shared servers are never disturbed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import redis
from celery import Celery
from django.db import connections, transaction

from screening.models import Examination, EyeImage, Prediction

from ..conftest import ROOT, worker_env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_worker_with(
    media_root: Path, log_path: Path, *, name: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """conftest's worker, with environment overrides (another broker, a proxied database)."""
    cmd = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "inference,celery"]
    cmd += ["--concurrency", "1", "--loglevel", "INFO", "--hostname", f"{name}-{os.getpid()}@%h", "--without-gossip"]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**worker_env(media_root), **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )


def wait_for_worker(proc: subprocess.Popen[bytes], log_path: Path, broker_url: str, timeout: float = 90.0) -> None:
    """Round trip the ping task through the given broker (the test process's own app may use another)."""
    # Not the current app: the portal's shared tasks would then be sent through it, unrouted (to the default
    # queue) and without their time limits, for the rest of the session.
    probe = Celery("probe", broker=broker_url, backend=broker_url, set_as_current=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(Exception):
                if probe.send_task("dr_portal.ping", queue="celery", expires=10).get(timeout=5) == "pong":
                    return
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")
    finally:
        probe.close()


def start_beat(media_root: Path, log_path: Path, *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`celery beat`, as docker-compose runs it beside the workers: it sends the reconciler's pass."""
    schedule = log_path.with_name(f"{log_path.stem}-schedule")
    cmd = [sys.executable, "-m", "celery", "-A", "dr_portal", "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**worker_env(media_root), **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )


def signal_tree(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Send a signal to the worker and its pool children at once: SIGSTOP/SIGCONT, as a paused VM would."""
    for pid in [proc.pid, *_descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its pool children at once, as the kernel's OOM killer or a lost node would."""
    for pid in [*_descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _descendants(pid: int) -> list[int]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []


class RedisServer:
    """A redis-server of the test's own, persisted as docker-compose configures it (append-only file)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        cmd += ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]
        cmd += ["--save", "", "--logfile", str(self.directory / "redis.log")]
        self.proc = subprocess.Popen(cmd)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if self.client().ping():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def stop(self) -> None:
        # SIGTERM, as `docker compose restart redis` sends: Redis flushes the append-only file and exits.
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def queue_length(self, queue: str) -> int:
        return int(self.client().llen(queue))


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; pause() drops every connection and refuses new ones until resume()."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.resume()

    def resume(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def pause(self) -> None:
        """Close the listening port (new connections are refused) and cut every open connection."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def close(self) -> None:
        self.pause()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update({client, upstream})
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)


@contextlib.contextmanager
def prediction_slots_taken(examination: Examination, model_version: str) -> Iterator[None]:
    """Hold uncommitted predictions of both eyes from another connection until the block ends, then roll back."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                for eye in EyeImage.objects.filter(examination=examination):
                    Prediction.objects.create(
                        eye_image=eye,
                        model_version=model_version,
                        checkpoint_sha256="0" * 64,
                        predicted_class=0,
                        confidence_no_dr=1.0,
                        confidence_mild=0.0,
                        confidence_proliferative=0.0,
                    )
                taken.set()
                release.wait(timeout=180)
                transaction.set_rollback(True)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(timeout=10)
    try:
        yield
    finally:
        release.set()
        holder.join(timeout=30)


class PhotographOnHold:
    """A stored photograph replaced by a named pipe: a worker that comes to read it waits there, mid-grading and
    outside any transaction, so a fault injected then (SIGKILL, SIGSTOP) leaves no lock behind. put_back()
    puts the file back for the next reader; feed() hands a reader still waiting on the pipe the same bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.content = path.read_bytes()
        self.pipe = path.with_name(path.name + ".pipe")
        path.unlink()
        os.mkfifo(path)
        os.link(path, self.pipe)  # the pipe stays reachable once the photograph is back in its place

    def put_back(self) -> None:
        staged = self.path.with_name(self.path.name + ".staged")
        staged.write_bytes(self.content)
        os.replace(staged, self.path)  # atomically: a reader opens the pipe or the file, never nothing

    def feed(self) -> bool:
        """Write the photograph to a reader waiting on the pipe; False when nobody waits there."""
        try:
            fd = os.open(self.pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader has it open
            return False
        os.set_blocking(fd, True)
        try:
            rest = memoryview(self.content)
            while rest:
                rest = rest[os.write(fd, rest) :]
        finally:
            os.close(fd)
        return True

    def close(self) -> None:
        if self.path.is_fifo():
            self.put_back()
        self.pipe.unlink(missing_ok=True)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None) -> None:
    """Poll until the condition holds; on a timeout fail with what was awaited and the worker log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    tail = f"\nworker log:\n{log.read_text()[-4000:]}" if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")
