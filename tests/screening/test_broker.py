"""Looking into the broker without taking anything: the grading messages waiting in Redis and in the
filesystem transport's folder, as the reconciler reads them before it re-sends a queued examination."""

from __future__ import annotations

from pathlib import Path

from celery import Celery
from kombu import Connection

from dr_portal.celery import app
from screening.broker import waiting_task_args
from screening.tasks import grade_examination

from ..ops.broker import drain_task_messages, purge

GRADE_TASK = "screening.tasks.grade_examination"


def test_it_reads_the_grading_messages_waiting_in_redis_and_leaves_them_there() -> None:
    purge("inference")
    grade_examination.delay(11)
    app.send_task("dr_portal.ping", queue="inference")  # another task's message in the same queue
    grade_examination.delay(12)
    with app.connection_for_read() as connection:
        assert waiting_task_args(connection, queue="inference", task=GRADE_TASK) == [[11], [12]]
    assert drain_task_messages("inference") == [(GRADE_TASK, [11]), ("dr_portal.ping", []), (GRADE_TASK, [12])]


def test_it_reads_the_filesystem_transports_folder(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(tmp_path)}
    embedded = Celery("embedded", broker="filesystem://", broker_transport_options=options, set_as_current=False)
    try:
        embedded.send_task(GRADE_TASK, args=[7], queue="inference")
        embedded.send_task(GRADE_TASK, args=[8], queue="celery")  # another queue
        (folder / "0_broken.inference.msg").write_text("{not json")  # half written, or damaged: skipped
        with embedded.connection_for_read() as connection:
            assert waiting_task_args(connection, queue="inference", task=GRADE_TASK) == [[7]]
    finally:
        embedded.close()


def test_it_says_so_where_a_transport_cannot_be_looked_into() -> None:
    with Connection("memory://") as connection:
        assert waiting_task_args(connection, queue="inference", task=GRADE_TASK) is None
