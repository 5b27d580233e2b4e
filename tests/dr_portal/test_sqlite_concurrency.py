"""The embedded default's SQLite under concurrent writers: the web server's requests and the worker save at
the same moment. A transaction that read before writing used to fail at once with "database is locked" (an
HTTP 500, the user's action lost) instead of waiting its turn."""

from __future__ import annotations

from pathlib import Path

from tests.embedded_sqlite import run_on_embedded_sqlite

# Four writers released together, each reading, pausing, then writing inside one transaction: the
# shape of a review's or a void's save (load and check the row, then update it and audit).
WRITERS = """
import json, threading, time
import django
django.setup()
from django.core.management import call_command
from django.db import connections, transaction
call_command("migrate", verbosity=0)
from patients.models import Clinic
start, failures = threading.Barrier(4), []

def write(number):
    try:
        start.wait(timeout=30)
        with transaction.atomic():
            Clinic.objects.count()
            time.sleep(0.3)
            Clinic.objects.create(name=f"Clinic {number}")
    except Exception as error:
        failures.append(repr(error))
    finally:
        connections.close_all()

threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print(json.dumps({"failures": failures, "clinics": Clinic.objects.count()}))
"""


def test_concurrent_transactions_on_the_embedded_sqlite_wait_for_each_other(tmp_path: Path) -> None:
    outcome = run_on_embedded_sqlite(WRITERS, tmp_path)
    assert outcome == {"failures": [], "clinics": 4}
