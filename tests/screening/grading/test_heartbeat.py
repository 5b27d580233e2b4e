"""An attempt's heartbeat: refreshed from a thread while the grading runs, stopped with it, and the first to
notice that another attempt took the examination over."""

from __future__ import annotations

import time

import pytest

from screening import services
from screening.grading.attempts import AttemptFenced, attempt_claim
from screening.grading.heartbeat import Heartbeat, beating
from screening.models import Examination
from tests.ops.faults import wait_for

# The heartbeat's thread has a connection of its own: it sees committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def examination(owner, patient, right_eye, left_eye, settings) -> Examination:
    settings.GRADING_HEARTBEAT_SECONDS = 0.1
    return services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)


def _heartbeat_at(examination: Examination):
    return Examination.objects.values_list("heartbeat_at", flat=True).get(pk=examination.pk)


def _fenced(heartbeat: Heartbeat) -> bool:
    try:
        heartbeat.check()
    except AttemptFenced:
        return True
    return False


def test_it_refreshes_the_heartbeat_while_the_block_runs_and_stops_after(examination) -> None:
    attempt = attempt_claim(examination_id=examination.pk)
    assert attempt is not None
    claimed_at = _heartbeat_at(examination)
    with beating(attempt) as heartbeat:
        wait_for(lambda: _heartbeat_at(examination) > claimed_at, timeout=30, what="a heartbeat")
        first = _heartbeat_at(examination)
        wait_for(lambda: _heartbeat_at(examination) > first, timeout=30, what="the next heartbeat")
        heartbeat.check()  # still current: nothing raised
    time.sleep(0.3)  # a beat under way as the block ended may still land
    last = _heartbeat_at(examination)
    time.sleep(0.5)
    assert _heartbeat_at(examination) == last


def test_it_notices_a_newer_attempt_and_the_grading_stops_at_its_next_check(examination, caplog) -> None:
    attempt = attempt_claim(examination_id=examination.pk)
    assert attempt is not None
    with beating(attempt) as heartbeat:
        newer = attempt_claim(examination_id=examination.pk)
        assert newer is not None
        newer_beat = _heartbeat_at(examination)
        wait_for(lambda: _fenced(heartbeat), timeout=30, what="the old attempt's grading to be fenced off")
        time.sleep(0.3)  # the old attempt beats no more
        assert _heartbeat_at(examination) == newer_beat
    assert f"Fenced off attempt 1 of examination {examination.pk}: its grading changed nothing" in caplog.text
