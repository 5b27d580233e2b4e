"""What the broker still holds: the task messages waiting in a queue, read without taking them.

The reconciler asks before it re-sends an examination that has been queued for a while: one whose message
waits its turn behind a backlog must not be sent again on every pass, or a long import would fill the queue
with copies. Read straight from the two transports the portal runs on, Redis (its lists) and kombu's
filesystem transport (its folder); None for any other, whose caller then simply re-sends (the grading
attempts' fencing makes a duplicate harmless, only wasteful).

A message a worker has taken is no longer waiting: it is that worker's, and the examination it names is then
`running` within moments (the claim is the task's first statement), where the heartbeat speaks for it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kombu import Connection


def waiting_task_args(connection: Connection, *, queue: str, task: str) -> list[list[Any]] | None:
    """The positional arguments of every message of `task` waiting in `queue`, oldest first; None where this
    transport cannot be looked into."""
    channel: Any = connection.default_channel  # the transport's own channel: its client and folders
    driver = connection.transport.driver_type
    if driver == "redis":
        payloads = _redis_payloads(channel, queue)
    elif driver == "filesystem":
        payloads = _folder_payloads(channel, queue)
    else:
        return None
    found = []
    for payload in payloads:
        args = _task_args(payload, task)
        if args is not None:
            found.append(args)
    return found


def _redis_payloads(channel: Any, queue: str) -> Iterator[Any]:
    # One list per priority step (kombu's naming); the portal sends no priorities, so only the first is used,
    # but a message is looked for wherever kombu could have put it. LPUSH and BRPOP: the oldest is last.
    keys = dict.fromkeys(channel._q_for_pri(queue, step) for step in channel.priority_steps)
    for key in keys:
        for raw in reversed(channel.client.lrange(key, 0, -1)):
            with contextlib.suppress(ValueError):
                yield json.loads(raw)


def _folder_payloads(channel: Any, queue: str) -> Iterator[Any]:
    # One file per message, "<milliseconds>_<uuid>.<queue>.msg", taken by a worker by moving it away.
    folder = Path(channel.data_folder_in)
    for name in sorted(os.listdir(folder)):
        if name.partition(".")[2] != f"{queue}.msg":
            continue
        # Taken by a worker between the listing and the read, or still being written: not waiting any more.
        with contextlib.suppress(OSError, ValueError):
            yield json.loads((folder / name).read_bytes())


def _task_args(payload: Any, task: str) -> list[Any] | None:
    """The positional arguments of a Celery message (protocol 2: the body is [args, kwargs, embed]), or None
    for another task's message or one that cannot be read."""
    if not isinstance(payload, dict) or (payload.get("headers") or {}).get("task") != task:
        return None
    body = payload.get("body")
    try:
        if (payload.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body or "")
        decoded = json.loads(body or "null")
    except (ValueError, TypeError):
        return None
    if isinstance(decoded, list) and decoded and isinstance(decoded[0], list):
        return list(decoded[0])
    return None
