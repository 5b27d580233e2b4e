"""A bound on how long a stopped process can keep an examination locked.

The grading's transactions (the claim, the fenced result, the reconciler's pass) hold the examination's row
lock for milliseconds. A worker stopped inside one (SIGSTOP, a paused VM, a swap storm) would hold it until it
woke: the reconciler skips locked rows and a new claim waits on it, so the examination would wait for the
stopped worker instead of being handed on. PostgreSQL ends a session that sits idle inside its transaction
for longer than idle_in_transaction_session_timeout, rolling it back and releasing its locks; set for these
transactions only, the rest of the portal keeps the server's default. The stopped worker, once awake, finds
its connection gone and its transaction rolled back: nothing of it was written. To its task that is a database
fault like any other (tasks.py retries it), and the retry's claim finds the examination done by then, or
grades it as a new attempt.

SQLite has no such setting: on the embedded default a worker stopped inside a transaction holds the database's
write lock until it wakes (docs/operations.md).
"""

from __future__ import annotations

from django.db import DatabaseError, connection

# Far above the milliseconds these transactions take, well below the reconciler's running timeout.
STALLED_TRANSACTION_SECONDS = 10


def end_transaction_if_stalled(seconds: float = STALLED_TRANSACTION_SECONDS) -> None:
    """Have PostgreSQL end this session should it sit idle inside the current transaction for `seconds`."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # set_config(..., true): for this transaction only (SET LOCAL takes no bound parameter).
        cursor.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, true)", [f"{int(seconds * 1000)}"])


def ended_while_stalled(error: BaseException) -> bool:
    """Whether the error is PostgreSQL ending this session for sitting idle inside its transaction (SQLSTATE
    25P03): the transaction was rolled back, nothing of it was written."""
    return isinstance(error, DatabaseError) and getattr(error.__cause__, "sqlstate", None) == "25P03"
