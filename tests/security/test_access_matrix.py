"""The access matrix: every patient-data URL (HTML pages, API, media, admin) x every role x the own
clinic's object / another clinic's object / no login. Every entitled call succeeds; every other one is
refused; a successful call leaves exactly one audit event with the right actor and patient, a refused
one leaves none.

Role semantics (documented in docs/security.md):
  * staff and doctors read and write their clinic's patients and examinations and upload; only doctors
    review, amend a review, close a referral and see the worklist; staff and doctors mark an examination
    entered in error, but once a doctor signed it off only a doctor may;
  * clinic admins manage their clinic's accounts and see no patient data;
  * superusers without a clinic use the Django admin (and the audit API), not the clinical pages;
  * an object a role may not see, another clinic's above all, answers 404 whatever the role; a visible
    object with a forbidden action answers 403; a forbidden collection (list, form, upload) answers 403;
  * no login: pages and media redirect to the login page, the API answers 401.

To cover a new URL, add a Route to ROUTES.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from screening.models import Review
from tests.examination_data import graded_examination, upload
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

ROLES = ("staff", "doctor", "clinic_admin", "superuser", "anonymous")
STAFF_AND_DOCTORS = frozenset({"staff", "doctor"})
DOCTORS = frozenset({"doctor"})
CLINIC_ADMINS = frozenset({"clinic_admin"})
SUPERUSERS = frozenset({"superuser"})


@dataclass
class World:
    """One clinic's objects ("own", the clinic of every role but the superuser) and another's."""

    users: dict[str, Any]
    patient: dict[str, Any]
    examination: dict[str, Any]
    account: dict[str, Any]
    signed_off: dict[str, Any]  # an examination a doctor reviewed


@dataclass(frozen=True)
class Route:
    id: str
    kind: str  # html | media | api | admin
    method: str
    url: Callable[[World, str], str]
    may: frozenset[str]  # roles entitled to do this to their own clinic's object (or collection)
    ok: int
    sees: frozenset[str] = STAFF_AND_DOCTORS  # roles that may see the object at all
    collection: bool = False  # no object in the URL: a forbidden role gets 403
    targets: tuple[str, ...] = ("own", "other")
    foreign: int = 404  # an entitled role's answer for the other clinic's object
    data: Callable[[World, str], dict[str, Any]] | None = None
    audit: str | None = None  # the audit action a success records (exactly once)
    audits_patient: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _patient_url(name: str) -> Callable[[World, str], str]:
    return lambda w, t: reverse(name, args=[w.patient[t].pk])


def _examination_url(name: str, **kwargs: str) -> Callable[[World, str], str]:
    return lambda w, t: reverse(name, kwargs={"examination_id": w.examination[t].pk, **kwargs})


def _api(path: str) -> Callable[[World, str], str]:
    return lambda w, t: "/api/v1/" + path.format(patient=w.patient[t].pk, examination=w.examination[t].pk)


NEW_PATIENT = {
    "medical_record_number": "NEW-1",
    "first_name": "Ada",
    "last_name": "Byron",
    "date_of_birth": "1970-01-01",
    "sex": "F",
}


def _new_patient(w: World, t: str) -> dict[str, Any]:
    return NEW_PATIENT


def _correction(w: World, t: str) -> dict[str, Any]:
    """The target patient's record with the first name corrected: a real change, so it is audited."""
    patient = w.patient[t]
    return {
        "medical_record_number": patient.medical_record_number,
        "first_name": f"{patient.first_name}-corrected",
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
    }


def _photographs(w: World, t: str) -> dict[str, Any]:
    return {
        "patient": w.patient[t].pk,
        "right_eye": upload("r.png", (200, 30, 30)),
        "left_eye": upload("l.png", (30, 30, 200)),
    }


def _grades(w: World, t: str) -> dict[str, Any]:
    return {"right_grade": 1, "left_grade": 0, "notes": ""}


def _amendment(w: World, t: str) -> dict[str, Any]:
    """The signed-off review (right Mild, left No DR) with the right eye regraded: a real change."""
    return {"right_grade": 2, "left_grade": 0, "notes": "", "reason": "A second look at the photographs."}


def _void_reason(w: World, t: str) -> dict[str, Any]:
    return {"reason": "Photographs of another patient."}


def _closure(w: World, t: str) -> dict[str, Any]:
    """Close the patient's open referral (its examinations answer refer: right Mild) through the newest."""
    return {"through": w.examination[t].pk, "back": "patient", "outcome": "Seen at the eye clinic."}


def _signed_off_url(template: str) -> Callable[[World, str], str]:
    return lambda w, t: template.format(examination=w.signed_off[t].pk)


ROUTES: list[Route] = [
    # HTML pages
    Route(
        "patient list page",
        "html",
        "GET",
        lambda w, t: reverse("patients:list"),
        STAFF_AND_DOCTORS,
        200,
        collection=True,
        targets=("own",),
        audit="patient.list",
        audits_patient=False,
    ),
    Route(
        "patient form",
        "html",
        "GET",
        lambda w, t: reverse("patients:create"),
        STAFF_AND_DOCTORS,
        200,
        collection=True,
        targets=("own",),
    ),
    Route(
        "patient registration",
        "html",
        "POST",
        lambda w, t: reverse("patients:create"),
        STAFF_AND_DOCTORS,
        302,
        collection=True,
        targets=("own",),
        data=_new_patient,
        audit="patient.create",
        audits_patient=False,
    ),
    Route("patient page", "html", "GET", _patient_url("patients:detail"), STAFF_AND_DOCTORS, 200, audit="patient.view"),
    Route(
        "patient edit form",
        "html",
        "GET",
        _patient_url("patients:update"),
        STAFF_AND_DOCTORS,
        200,
        audit="patient.view",
    ),
    Route(
        "patient correction",
        "html",
        "POST",
        _patient_url("patients:update"),
        STAFF_AND_DOCTORS,
        302,
        data=_correction,
        audit="patient.update",
    ),
    Route("upload form", "html", "GET", _patient_url("screening:upload"), STAFF_AND_DOCTORS, 200),
    Route(
        "upload",
        "html",
        "POST",
        _patient_url("screening:upload"),
        STAFF_AND_DOCTORS,
        302,
        data=_photographs,
        audit="examination.create",
    ),
    Route(
        "result page",
        "html",
        "GET",
        _examination_url("screening:detail"),
        STAFF_AND_DOCTORS,
        200,
        audit="examination.view",
    ),
    Route("result status", "html", "GET", _examination_url("screening:status"), STAFF_AND_DOCTORS, 200),
    Route(
        "report pdf",
        "html",
        "GET",
        _examination_url("screening:report_pdf"),
        STAFF_AND_DOCTORS,
        200,
        audit="examination.report",
    ),
    Route(
        "review form post",
        "html",
        "POST",
        _examination_url("screening:review"),
        DOCTORS,
        302,
        data=_grades,
        audit="review.create",
    ),
    Route(
        "review amend form post",
        "html",
        "POST",
        _signed_off_url("/screening/examinations/{examination}/review/amend/"),
        DOCTORS,
        302,
        data=_amendment,
        audit="review.amend",
    ),
    Route(
        "void form post",
        "html",
        "POST",
        _examination_url("screening:void"),
        STAFF_AND_DOCTORS,
        302,
        data=_void_reason,
        audit="examination.void",
    ),
    Route(
        "referral close form post",
        "html",
        "POST",
        _patient_url("screening:referral_close"),
        DOCTORS,
        302,
        data=_closure,
        audit="referral.close",
    ),
    Route(
        "void form post, signed off",
        "html",
        "POST",
        _signed_off_url("/screening/examinations/{examination}/void/"),
        DOCTORS,
        302,
        data=_void_reason,
        audit="examination.void",
    ),
    Route(
        "worklist",
        "html",
        "GET",
        lambda w, t: reverse("screening:worklist"),
        DOCTORS,
        200,
        collection=True,
        targets=("own",),
        audit="worklist.view",
        audits_patient=False,
    ),
    Route(
        "statistics",
        "html",
        "GET",
        lambda w, t: reverse("screening:statistics"),
        DOCTORS,
        200,
        collection=True,
        targets=("own",),
        audit="statistics.view",
        audits_patient=False,
    ),
    # Media: photographs and heatmaps, only through the permission-checked views
    Route(
        "right photograph",
        "media",
        "GET",
        _examination_url("screening:eye_image", side="right"),
        STAFF_AND_DOCTORS,
        200,
        audit="eye_image.view",
    ),
    Route(
        "left photograph",
        "media",
        "GET",
        _examination_url("screening:eye_image", side="left"),
        STAFF_AND_DOCTORS,
        200,
        audit="eye_image.view",
    ),
    Route(
        "right heatmap",
        "media",
        "GET",
        _examination_url("screening:heatmap", side="right"),
        STAFF_AND_DOCTORS,
        200,
        audit="heatmap.view",
    ),
    Route(
        "left heatmap",
        "media",
        "GET",
        _examination_url("screening:heatmap", side="left"),
        STAFF_AND_DOCTORS,
        200,
        audit="heatmap.view",
    ),
    # API
    Route(
        "api patient list",
        "api",
        "GET",
        _api("patients/"),
        STAFF_AND_DOCTORS,
        200,
        collection=True,
        targets=("own",),
        audit="patient.list",
        audits_patient=False,
    ),
    Route(
        "api patient create",
        "api",
        "POST",
        _api("patients/"),
        STAFF_AND_DOCTORS,
        201,
        collection=True,
        targets=("own",),
        data=_new_patient,
        audit="patient.create",
        audits_patient=False,
    ),
    Route("api patient", "api", "GET", _api("patients/{patient}/"), STAFF_AND_DOCTORS, 200, audit="patient.view"),
    Route(
        "api patient correction",
        "api",
        "PATCH",
        _api("patients/{patient}/"),
        STAFF_AND_DOCTORS,
        200,
        data=_correction,
        audit="patient.update",
    ),
    Route(
        "api patient history",
        "api",
        "GET",
        _api("patients/{patient}/examinations/"),
        STAFF_AND_DOCTORS,
        200,
        audit="examination.list",
    ),
    # A body reference to another clinic's patient is a 400 "No such patient", worded as for a missing one.
    Route(
        "api upload",
        "api",
        "POST",
        _api("examinations/"),
        STAFF_AND_DOCTORS,
        202,
        collection=True,
        foreign=400,
        data=_photographs,
        audit="examination.create",
    ),
    Route(
        "api examination",
        "api",
        "GET",
        _api("examinations/{examination}/"),
        STAFF_AND_DOCTORS,
        200,
        audit="examination.view",
    ),
    Route(
        "api examination fhir",
        "api",
        "GET",
        _api("examinations/{examination}/fhir/"),
        STAFF_AND_DOCTORS,
        200,
        audit="examination.export",
    ),
    Route(
        "api patient fhir",
        "api",
        "GET",
        _api("patients/{patient}/fhir/"),
        STAFF_AND_DOCTORS,
        200,
        audit="patient.export",
    ),
    Route(
        "api report pdf",
        "api",
        "GET",
        _api("examinations/{examination}/report.pdf"),
        STAFF_AND_DOCTORS,
        200,
        audit="examination.report",
    ),
    Route(
        "api review",
        "api",
        "POST",
        _api("examinations/{examination}/review/"),
        DOCTORS,
        201,
        data=_grades,
        audit="review.create",
    ),
    Route(
        "api review amend",
        "api",
        "POST",
        _signed_off_url("/api/v1/examinations/{examination}/review/amend/"),
        DOCTORS,
        200,
        data=_amendment,
        audit="review.amend",
    ),
    Route(
        "api void",
        "api",
        "POST",
        _api("examinations/{examination}/void/"),
        STAFF_AND_DOCTORS,
        200,
        data=_void_reason,
        audit="examination.void",
    ),
    Route(
        "api void, signed off",
        "api",
        "POST",
        _signed_off_url("/api/v1/examinations/{examination}/void/"),
        DOCTORS,
        200,
        data=_void_reason,
        audit="examination.void",
    ),
    Route(
        "api referral close",
        "api",
        "POST",
        _api("examinations/{examination}/referral/close/"),
        DOCTORS,
        201,
        data=lambda w, t: {"outcome": "Seen at the eye clinic."},
        audit="referral.close",
    ),
    Route(
        "api statistics",
        "api",
        "GET",
        _api("statistics/"),
        DOCTORS,
        200,
        collection=True,
        targets=("own",),
        audit="statistics.view",
        audits_patient=False,
    ),
    Route(
        "api audit trail",
        "api",
        "GET",
        _api("audit-events/"),
        SUPERUSERS,
        200,
        collection=True,
        targets=("own",),
        audit="audit.list",
        audits_patient=False,
    ),
    # Clinic admins' account pages (accounts, not patients: "own" is a colleague, "other" an outsider)
    Route(
        "accounts page",
        "html",
        "GET",
        lambda w, t: reverse("patients:accounts"),
        CLINIC_ADMINS,
        200,
        collection=True,
        targets=("own",),
        audit="account.list",
        audits_patient=False,
    ),
    Route(
        "account form",
        "html",
        "GET",
        lambda w, t: reverse("patients:account_create"),
        CLINIC_ADMINS,
        200,
        collection=True,
        targets=("own",),
    ),
    Route(
        "account page",
        "html",
        "GET",
        lambda w, t: reverse("patients:account_update", args=[w.account[t].pk]),
        CLINIC_ADMINS,
        200,
        sees=CLINIC_ADMINS,
    ),
    # The Django admin: superusers only, every clinic
    Route(
        "admin patient",
        "admin",
        "GET",
        lambda w, t: reverse("admin:patients_patient_change", args=[w.patient[t].pk]),
        SUPERUSERS,
        200,
        audit="admin.view",
    ),
    Route(
        "admin examination",
        "admin",
        "GET",
        lambda w, t: reverse("admin:screening_examination_change", args=[w.examination[t].pk]),
        SUPERUSERS,
        200,
        audit="admin.view",
    ),
    Route(
        "admin audit export",
        "admin",
        "GET",
        lambda w, t: reverse("admin:audit_auditevent_export"),
        SUPERUSERS,
        200,
        targets=("own",),
        audit="audit.export",
        audits_patient=False,
    ),
]


def expected(route: Route, role: str, target: str) -> int:
    if role == "anonymous":
        return {"html": 302, "media": 302, "admin": 302, "api": 401}[route.kind]
    if route.kind == "admin":
        return route.ok if role in route.may else 302  # the admin's own login page
    if route.collection:
        if role not in route.may:
            return 403
        return route.ok if target == "own" else route.foreign
    if target == "own" and role in route.sees:
        return route.ok if role in route.may else 403
    return 404


CASES = [
    pytest.param(route, role, target, id=f"{route.id}-{role}-{target}")
    for route, role in itertools.product(ROUTES, ROLES)
    for target in route.targets
]


@pytest.fixture
def world(clinic, other_clinic, owner, colleague, clinic_admin, outsider, superuser, patient) -> World:
    their_patient = PatientFactory.create(clinic=other_clinic)
    signed_off = {"own": graded_examination(patient=patient), "other": graded_examination(patient=their_patient)}
    for target, doctor in (("own", colleague), ("other", outsider)):
        Review.objects.create(
            examination=signed_off[target], doctor=doctor, right_grade=1, left_grade=0, signed_off_at=timezone.now()
        )
    return World(
        users={"staff": owner, "doctor": colleague, "clinic_admin": clinic_admin, "superuser": superuser},
        patient={"own": patient, "other": their_patient},
        examination={
            "own": graded_examination(patient=patient),
            "other": graded_examination(patient=their_patient),
        },
        account={"own": owner, "other": outsider},
        signed_off=signed_off,
    )


def _call(route: Route, world: World, role: str, target: str) -> Any:
    url = route.url(world, target)
    data = route.data(world, target) if route.data else None
    user = world.users.get(role)
    if route.kind == "api":
        client: Any = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        fmt = "multipart" if data and "right_eye" in data else "json"
        if data is None:
            return client.generic(route.method, url)
        return getattr(client, route.method.lower())(url, data, format=fmt)
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(url) if route.method == "GET" else client.post(url, data or {})


@pytest.mark.parametrize(("route", "role", "target"), CASES)
def test_access(route: Route, role: str, target: str, world: World) -> None:
    cache.clear()  # throttles
    before = AuditEvent.objects.count()
    response = _call(route, world, role, target)
    want = expected(route, role, target)
    assert response.status_code == want, f"{route.method} {route.url(world, target)} as {role}: {response}"
    if want == 302 and (role == "anonymous" or route.kind == "admin") and response.status_code == 302:
        login = reverse("admin:login") if route.kind == "admin" else reverse("login")
        assert response["Location"].startswith(login)
    if route.audit is None:
        return
    recorded = AuditEvent.objects.filter(pk__gt=_last_id(before), action=route.audit)
    if response.status_code == route.ok and role in route.may:
        event = recorded.get()  # exactly one
        assert event.actor == world.users[role]
        if route.audits_patient:
            assert event.patient == world.patient[target]
    else:
        assert not recorded.exists(), "a refused call must not be recorded as an access"


def _last_id(count_before: int) -> int:
    # Events are append-only and ids grow, so "new" means after the count-th oldest.
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True)[:count_before])
    return ids[-1] if ids else 0


def test_every_url_of_the_patient_and_screening_apps_is_in_the_matrix() -> None:
    """A new patient-data URL must be added to ROUTES: fail when one is missing."""
    from django.urls import get_resolver

    covered = {route.id for route in ROUTES}
    names = set()
    for namespace in ("patients", "screening"):
        resolver = get_resolver().namespace_dict[namespace][1]
        names |= {f"{namespace}:{name}" for name in resolver.reverse_dict if isinstance(name, str)}
    mapped = {
        "patients:list": "patient list page",
        "patients:create": "patient form",
        "patients:detail": "patient page",
        "patients:update": "patient edit form",
        "patients:accounts": "accounts page",
        "patients:account_create": "account form",
        "patients:account_update": "account page",
        "screening:upload": "upload form",
        "screening:detail": "result page",
        "screening:status": "result status",
        "screening:report_pdf": "report pdf",
        "screening:review": "review form post",
        "screening:review_amend": "review amend form post",
        "screening:void": "void form post",
        "screening:referral_close": "referral close form post",
        "screening:worklist": "worklist",
        "screening:statistics": "statistics",
        "screening:eye_image": "right photograph",
        "screening:heatmap": "right heatmap",
    }
    assert names <= set(mapped), f"not in the access matrix: {sorted(names - set(mapped))}"
    assert set(mapped.values()) <= covered
