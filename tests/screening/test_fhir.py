"""The FHIR R4 export (screening/fhir.py, screening/interop_api.py): every answer parsed back with
fhir.resources, its codes, the report's status through sign-off and amendment, and the clinic scoping."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation
from rest_framework.test import APIClient

from audit.models import AuditEvent
from patients.models import Patient
from screening import reviews, services
from screening.models import Examination, EyeImage, Prediction, Status
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


@pytest.fixture
def api() -> Iterator[APIClient]:
    cache.clear()
    yield APIClient()
    cache.clear()


def _bundle(api: APIClient, user: Any, path: str, **headers: str) -> Bundle:
    api.force_authenticate(user)
    response = api.get(path, **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(response.content)
    assert bundle.type == "collection"
    _assert_references_resolve(bundle)
    return bundle


def _assert_references_resolve(bundle: Bundle) -> None:
    urls = {entry.fullUrl for entry in bundle.entry or []}
    assert len(urls) == len(bundle.entry or [])  # each resource once
    for reference in _references(bundle.model_dump()):
        assert reference in urls, reference


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _of(bundle: Bundle, resource_type: str) -> list[Any]:
    return [entry.resource for entry in bundle.entry or [] if entry.resource.get_resource_type() == resource_type]


def _resolve(bundle: Bundle, reference: Any) -> Any:
    return next(entry.resource for entry in bundle.entry or [] if entry.fullUrl == reference.reference)


def _observation(bundle: Bundle, side: str) -> Observation:
    return next(o for o in _of(bundle, "Observation") if o.id.endswith(f"-{side}"))


def _codes(concept: Any) -> set[tuple[str, str]]:
    return {
        (coding.system.rsplit("/", 1)[-1] if "dr-" in coding.system else coding.system, coding.code)
        for coding in concept.coding
    }


def _exam_url(examination: Examination) -> str:
    return f"/api/v1/examinations/{examination.pk}/fhir/"


def test_an_examination_answers_a_bundle_of_patient_report_observations_and_device(
    api: APIClient, owner: Any, patient: Patient
) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    bundle = _bundle(api, owner, _exam_url(examination))
    kinds = sorted(entry.resource.get_resource_type() for entry in bundle.entry or [])
    assert kinds == ["Device", "DiagnosticReport", "Observation", "Observation", "Organization", "Patient"]
    (person,) = _of(bundle, "Patient")
    assert person.identifier[0].value == patient.medical_record_number
    assert person.identifier[0].type.coding[0].code == "MR"
    assert (person.name[0].family, person.gender, person.birthDate) == (
        patient.last_name,
        "female",
        patient.date_of_birth,
    )
    (report,) = _of(bundle, "DiagnosticReport")
    assert report.status == "preliminary" and report.resultsInterpreter is None
    assert (report.code.coding[0].system, report.code.coding[0].code) == (LOINC, "104212-6")
    assert _resolve(bundle, report.subject) == person
    assert {_resolve(bundle, result).id for result in report.result} == {
        f"examination-{examination.pk}-right",
        f"examination-{examination.pk}-left",
    }
    assert report.conclusionCode[0].coding[0].code == "refer"


def test_each_eye_is_coded_with_snomed_ct_its_class_as_text_and_its_side_as_body_site(
    api: APIClient, owner: Any, patient: Patient
) -> None:
    bundle = _bundle(api, owner, _exam_url(graded_examination(patient=patient, grades=(1, 0))))
    right, left = _observation(bundle, "right"), _observation(bundle, "left")
    assert (right.code.coding[0].system, right.code.coding[0].code) == (LOINC, "71491-5")
    assert (left.code.coding[0].system, left.code.coding[0].code) == (LOINC, "71490-7")
    assert (right.bodySite.coding[0].system, right.bodySite.coding[0].code) == (SNOMED, "18944008")
    assert (left.bodySite.coding[0].system, left.bodySite.coding[0].code) == (SNOMED, "8966001")
    assert _codes(right.valueCodeableConcept) == {(SNOMED, "390834004"), ("dr-grade", "1")}
    assert right.valueCodeableConcept.text == "Mild-moderate NPDR (ICDR 1-2)"
    assert _codes(left.valueCodeableConcept) == {(SNOMED, "390853009"), (LOINC, "LA18643-9"), ("dr-grade", "0")}
    assert left.valueCodeableConcept.text == "No DR (ICDR 0)"
    assert right.category[0].coding[0].code == "imaging"


def test_severe_npdr_or_pdr_is_coded_as_diabetic_retinopathy_with_the_class_as_text(
    api: APIClient, owner: Any, patient: Patient
) -> None:
    bundle = _bundle(api, owner, _exam_url(graded_examination(patient=patient, grades=(2, 2))))
    value = _observation(bundle, "right").valueCodeableConcept
    assert _codes(value) == {(SNOMED, "4855003"), ("dr-grade", "2")}
    assert value.text == "Severe NPDR or PDR (ICDR 3-4)"


def test_the_confidences_are_components_and_the_model_is_the_device(
    api: APIClient, owner: Any, patient: Patient
) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    bundle = _bundle(api, owner, _exam_url(examination))
    right = _observation(bundle, "right")
    values = {c.code.coding[0].code: c for c in right.component}
    assert {code: float(c.valueQuantity.value) for code, c in values.items() if code.startswith("confidence")} == {
        "confidence-0": 0.1,
        "confidence-1": 0.8,
        "confidence-2": 0.1,
    }
    assert values["confidence-1"].valueQuantity.code == "1"
    assert ("dr-grade", "1") in _codes(values["model-grade"].valueCodeableConcept)
    (model,) = _of(bundle, "Device")
    assert _resolve(bundle, right.device) == model
    assert model.deviceName[0].name == "test-model-1"
    assert {version.value for version in model.version} == {"test-model-1", "0" * 64}
    assert model.identifier[0].value == "0" * 64


def test_the_pdf_report_rides_in_presented_form(api: APIClient, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    (report,) = _of(_bundle(api, owner, _exam_url(examination)), "DiagnosticReport")
    (form,) = report.presentedForm
    pdf = form.data  # base64Binary: fhir.resources decodes it
    assert form.contentType == "application/pdf" and pdf.startswith(b"%PDF-")
    assert form.size == len(pdf)
    assert form.hash == hashlib.sha1(pdf).digest()
    assert form.url.endswith(f"/api/v1/examinations/{examination.pk}/report.pdf")


def _review(doctor: Any, examination: Examination, right: int, left: int) -> None:
    reviews.review_create(user=doctor, examination=examination, right_grade=right, left_grade=left)


def test_the_status_goes_from_preliminary_to_final_to_amended_with_the_doctor_as_interpreter(
    api: APIClient, owner: Any, named_doctor: Any, patient: Patient
) -> None:
    colleague = named_doctor
    examination = graded_examination(patient=patient, grades=(1, 0))
    _review(colleague, examination, 2, 0)
    bundle = _bundle(api, owner, _exam_url(examination))
    (report,) = _of(bundle, "DiagnosticReport")
    assert report.status == "final"
    doctor = _resolve(bundle, report.resultsInterpreter[0])
    assert doctor.get_resource_type() == "Practitioner"
    assert (doctor.name[0].family, doctor.identifier[0].value) == ("Quist", colleague.username)
    right = _observation(bundle, "right")
    assert right.status == "final"
    assert ("dr-grade", "2") in _codes(right.valueCodeableConcept)  # the doctor's grade is the value
    model_grade = next(c for c in right.component if c.code.coding[0].code == "model-grade")
    assert ("dr-grade", "1") in _codes(model_grade.valueCodeableConcept)  # the model's stays beside it
    assert doctor in [_resolve(bundle, performer) for performer in right.performer]

    reviews.review_amend(
        user=colleague, examination=examination, right_grade=1, left_grade=0, notes="", reason="second look"
    )
    bundle = _bundle(api, owner, _exam_url(examination))
    assert {r.status for r in _of(bundle, "DiagnosticReport") + _of(bundle, "Observation")} == {"amended"}


def test_an_ungradable_photograph_is_its_own_value_with_the_quality_checks_reasons(
    api: APIClient, owner: Any, patient: Patient
) -> None:
    examination = graded_examination(patient=patient, grades=(0, 0))
    EyeImage.objects.filter(examination=examination, side="left").update(
        gradable=False, quality={"reasons": ["The photograph is too dark."]}
    )
    left = _observation(_bundle(api, owner, _exam_url(examination)), "left")
    assert _codes(left.valueCodeableConcept) == {("dr-grade", "ungradable")}
    assert [note.text for note in left.note] == ["The photograph is too dark."]


def test_a_doctors_ungradable_eye_is_exported_as_ungradable_and_the_report_concludes_retake(
    api: APIClient, owner: Any, colleague: Any, patient: Patient
) -> None:
    from screening.models import ReviewGrade

    examination = graded_examination(patient=patient, grades=(2, 0))
    _review(colleague, examination, ReviewGrade.UNGRADABLE, 0)
    bundle = _bundle(api, owner, _exam_url(examination))
    right = _observation(bundle, "right")
    assert _codes(right.valueCodeableConcept) == {("dr-grade", "ungradable")}  # the doctor's value
    model_grade = next(c for c in right.component if c.code.coding[0].code == "model-grade")
    assert ("dr-grade", "2") in _codes(model_grade.valueCodeableConcept)  # the model's stays beside it
    (report,) = _of(bundle, "DiagnosticReport")
    assert report.conclusionCode[0].coding[0].code == "retake"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"status": Status.QUEUED, "completed_at": None}, "registered"),
        ({"status": Status.FAILED, "error": "unreadable"}, "cancelled"),
    ],
)
def test_an_examination_without_a_result_has_no_observations_nor_pdf(
    api: APIClient, owner: Any, patient: Patient, change: dict[str, Any], status: str
) -> None:
    examination = graded_examination(patient=patient)
    Examination.objects.filter(pk=examination.pk).update(**change)
    Prediction.objects.filter(eye_image__examination=examination).delete()  # not graded
    bundle = _bundle(api, owner, _exam_url(examination))
    (report,) = _of(bundle, "DiagnosticReport")
    assert report.status == status and report.presentedForm is None
    assert report.result is None and not _of(bundle, "Observation")


def test_an_examination_entered_in_error_is_exported_so_marked(api: APIClient, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    services.examination_void(user=owner, examination=examination, reason="wrong patient")
    bundle = _bundle(api, owner, _exam_url(examination))
    statuses = {r.status for r in _of(bundle, "DiagnosticReport") + _of(bundle, "Observation")}
    assert statuses == {"entered-in-error"}
    assert "wrong patient" in _of(bundle, "DiagnosticReport")[0].conclusion


def test_a_patient_answers_one_bundle_of_every_examination(
    api: APIClient, owner: Any, colleague: Any, patient: Patient
) -> None:
    first = graded_examination(patient=patient, grades=(0, 0))
    second = graded_examination(patient=patient, grades=(1, 1))
    _review(colleague, second, 1, 1)
    bundle = _bundle(api, owner, f"/api/v1/patients/{patient.pk}/fhir/")
    reports: list[DiagnosticReport] = _of(bundle, "DiagnosticReport")
    assert [(r.id, r.status) for r in reports] == [
        (f"examination-{first.pk}", "preliminary"),
        (f"examination-{second.pk}", "final"),
    ]
    assert len(_of(bundle, "Observation")) == 4
    assert len(_of(bundle, "Patient")) == len(_of(bundle, "Device")) == len(_of(bundle, "Practitioner")) == 1
    for report in reports:
        (form,) = report.presentedForm
        assert form.data is None and form.url.endswith(f"/examinations/{report.id.split('-')[1]}/report.pdf")


def test_a_client_asking_for_json_gets_the_bundle_too(api: APIClient, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    bundle = _bundle(api, owner, _exam_url(examination), HTTP_ACCEPT="application/json")
    assert _of(bundle, "DiagnosticReport")


def test_every_export_is_audited(api: APIClient, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    _bundle(api, owner, _exam_url(examination))
    _bundle(api, owner, f"/api/v1/patients/{patient.pk}/fhir/")
    events = AuditEvent.objects.filter(actor=owner, patient=patient)
    exported = events.get(action="examination.export")
    assert exported.object_id == str(examination.pk) and exported.detail == {
        "channel": "api",
        "format": "fhir",
        "pdf": True,
    }
    assert events.get(action="patient.export").detail == {"channel": "api", "format": "fhir", "examinations": 1}


def test_another_clinic_and_other_roles_get_404_and_nothing_is_audited(
    api: APIClient, outsider: Any, clinic_admin: Any, patient: Patient
) -> None:
    examination = graded_examination(patient=patient)
    for user in (outsider, clinic_admin):
        api.force_authenticate(user)
        assert api.get(_exam_url(examination)).status_code == 404
        assert api.get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 404
    api.force_authenticate(None)
    assert api.get(_exam_url(examination)).status_code == 401
    assert not AuditEvent.objects.filter(action__endswith=".export").exists()


def test_exporting_twice_gives_the_same_resource_ids(api: APIClient, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    first = _bundle(api, owner, _exam_url(examination))
    second = _bundle(api, owner, _exam_url(examination))
    assert [e.fullUrl for e in first.entry or []] == [e.fullUrl for e in second.entry or []]
