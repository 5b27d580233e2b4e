from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_event

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events/"


@pytest.fixture
def events(owner, outsider, patient):
    record_event(action="patient.view", actor=owner, obj=patient)
    record_event(action="patient.list", actor=owner)
    record_event(action="auth.login_failed", username="mallory")
    return AuditEvent.objects.all()


def test_admins_read_the_whole_trail_newest_first(api, superuser, events) -> None:
    api.force_authenticate(superuser)
    body = api.get(URL).json()
    assert body["count"] == 3
    assert [e["action"] for e in body["results"]] == ["auth.login_failed", "patient.list", "patient.view"]


@pytest.mark.parametrize(
    ("params", "actions"),
    [
        ({"action": "patient.view"}, ["patient.view"]),
        ({"username": "mallory"}, ["auth.login_failed"]),
        ({"object_type": "patient"}, ["patient.view"]),
    ],
)
def test_filters_narrow_the_trail(api, superuser, events, params, actions) -> None:
    api.force_authenticate(superuser)
    assert [e["action"] for e in api.get(URL, params).json()["results"]] == actions


def test_filters_by_actor_patient_and_time(api, superuser, owner, patient, events) -> None:
    api.force_authenticate(superuser)
    by_patient = api.get(URL, {"patient": patient.pk}).json()["results"]
    assert [(e["action"], e["patient"]) for e in by_patient] == [("patient.view", patient.pk)]
    assert api.get(URL, {"actor": owner.pk}).json()["count"] == 2
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    assert api.get(URL, {"since": future}).json()["count"] == 0
    before = AuditEvent.objects.count()  # reading the trail adds an event, after the query
    assert api.get(URL, {"until": future}).json()["count"] == before


@pytest.mark.parametrize(
    "params",
    [{"actor": "x"}, {"patient": "-1"}, {"since": "yesterday"}, {"ip_address": "999.1.1.1"}, {"action": "a\x00"}],
)
def test_bad_filter_values_are_a_400(api, superuser, params) -> None:
    api.force_authenticate(superuser)
    assert api.get(URL, params).status_code == 400


def test_since_after_until_is_a_400(api, superuser) -> None:
    api.force_authenticate(superuser)
    assert api.get(URL, {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}).status_code == 400


@pytest.mark.parametrize("who", ["owner", "colleague", "clinic_admin"])
def test_clinic_roles_cannot_read_the_trail(api, request, who) -> None:
    api.force_authenticate(request.getfixturevalue(who))
    assert api.get(URL).status_code == 403


def test_reading_the_trail_is_itself_recorded(api, superuser) -> None:
    api.force_authenticate(superuser)
    api.get(URL, {"action": "patient.view"})
    event = AuditEvent.objects.get(action="audit.list")
    assert event.actor == superuser and event.detail["filters"] == {"action": "patient.view"}


def test_paging_through_the_trail_shows_each_event_once(api, superuser, owner) -> None:
    for number in range(7):
        record_event(action="patient.list", actor=owner, detail={"n": number})
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    api.force_authenticate(superuser)
    seen, url = [], f"{URL}?page_size=3"
    while url:
        body = api.get(url).json()  # each read adds an audit.list event at the top of the trail
        seen += [event["id"] for event in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) and set(seen) == before
    assert AuditEvent.objects.filter(action="audit.list").count() == 3
