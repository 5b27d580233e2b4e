"""The FHIR R4 export of examinations, built with fhir.resources (its R4B models: R4B keeps R4's shape for
every resource and element used here).

One Bundle of type `collection`: the Patient, the clinic (Organization), the doctors who signed off
(Practitioner), the grading models (Device), and per examination one DiagnosticReport and an Observation per
graded eye. Resources refer to each other by their entries' fullUrl, a `urn:uuid:` made stable from the
portal's address and the record's id, so exporting the same record twice gives the same ids.

The codes, why each was chosen and where no exact one exists: docs/integrations.md.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone
from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.attachment import Attachment
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.device import Device, DeviceDeviceName, DeviceVersion
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from patients.models import Clinic, Patient

from . import selectors
from .grade_descriptions import DESCRIPTIONS, UNGRADABLE
from .models import Examination, Grade, Prediction, Review, Side, Status
from .referral import RECOMMENDATION_LABELS

CONTENT_TYPE = "application/fhir+json"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
GENDER = {"F": "female", "M": "male", "O": "other", "U": "unknown"}
MEDICAL_RECORD_NUMBER = Coding(system=IDENTIFIER_TYPE, code="MR", display="Medical record number")

REPORT_CODE = Coding(system=LOINC, code="104212-6", display="Views screening for diabetic retinopathy of Eyes")
# The severity of diabetic retinopathy in each eye (LOINC's answer list LL2117-1 holds ICDR's five levels).
SEVERITY_CODES: dict[str, Coding] = {
    Side.RIGHT: Coding(
        system=LOINC, code="71491-5", display="Right eye Diabetic retinopathy severity level by Ophthalmoscopy"
    ),
    Side.LEFT: Coding(
        system=LOINC, code="71490-7", display="Left eye Diabetic retinopathy severity level by Ophthalmoscopy"
    ),
}
EYE_STRUCTURES: dict[str, Coding] = {
    Side.RIGHT: Coding(system=SNOMED, code="18944008", display="Right eye structure"),
    Side.LEFT: Coding(system=SNOMED, code="8966001", display="Left eye structure"),
}
# SNOMED CT for each class where a concept exists: No DR exactly (per eye); Mild and Proliferative have
# none that covers exactly ICDR 1-2 or 3-4, so they carry the nearest concept that subsumes the class, and
# the class itself rides beside it in the portal's own code system (docs/integrations.md).
NO_DR: dict[str, Coding] = {
    Side.RIGHT: Coding(system=SNOMED, code="390850007", display="O/E - no right diabetic retinopathy"),
    Side.LEFT: Coding(system=SNOMED, code="390853009", display="O/E - no left diabetic retinopathy"),
}
NO_APPARENT_RETINOPATHY = Coding(system=LOINC, code="LA18643-9", display="No apparent retinopathy")
SUBSUMING: dict[int, Coding] = {
    Grade.MILD: Coding(
        system=SNOMED, code="390834004", display="Nonproliferative retinopathy due to diabetes mellitus"
    ),
    Grade.PROLIFERATIVE: Coding(system=SNOMED, code="4855003", display="Retinopathy due to diabetes mellitus"),
}
CONFIDENCE_FIELDS: dict[Grade, str] = {
    Grade.NO_DR: "confidence_no_dr",
    Grade.MILD: "confidence_mild",
    Grade.PROLIFERATIVE: "confidence_proliferative",
}


@dataclass
class BundleBuilder:
    """The Bundle's entries in order, each resource once (a doctor or model shared by examinations)."""

    base: str  # the portal's address, "https://host/": the root of its identifiers and code systems
    entries: dict[str, BundleEntry] = field(default_factory=dict)

    def system(self, name: str) -> str:
        return f"{self.base}fhir/{name}"

    def add(self, resource: Resource) -> Reference:
        """Add the resource (once) and return a reference to it."""
        url = self.full_url(resource.get_resource_type(), str(resource.id))
        self.entries.setdefault(url, BundleEntry(fullUrl=url, resource=resource))
        return Reference(reference=url)

    def full_url(self, resource_type: str, resource_id: str) -> str:
        return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.base}fhir/{resource_type}/{resource_id}"))

    def bundle(self) -> Bundle:
        return Bundle(type="collection", timestamp=timezone.now(), entry=list(self.entries.values()) or None)


def examination_bundle(*, examination: Examination, base: str, report: Attachment | None) -> Bundle:
    """The examination's Bundle; `report` (the PDF) rides in the DiagnosticReport's presentedForm."""
    builder = BundleBuilder(base)
    add_examination(builder, examination, patient=examination.patient, report=report)
    return builder.bundle()


def patient_bundle(
    *, patient: Patient, examinations: Iterable[Examination], base: str, reports: dict[int, Attachment]
) -> Bundle:
    """One Bundle for the patient: every examination (those entered in error too, so marked), oldest first."""
    builder = BundleBuilder(base)
    _add_patient(builder, patient)
    for examination in examinations:
        add_examination(builder, examination, patient=patient, report=reports.get(examination.pk))
    return builder.bundle()


def add_examination(
    builder: BundleBuilder, examination: Examination, *, patient: Patient, report: Attachment | None
) -> Reference:
    """The examination's DiagnosticReport and its eyes' Observations, with the resources they refer to."""
    summary = selectors.examination_summary(examination)
    review = summary["review"]
    subject, clinic = _add_patient(builder, patient)
    doctor = builder.add(practitioner(builder, review.doctor)) if review is not None else None
    status = report_status(examination, review)
    issued = _issued(examination, review)
    results = [
        builder.add(
            _eye_observation(
                builder,
                examination,
                eye,
                status=status,
                subject=subject,
                issued=issued,
                performers=[clinic, *([doctor] if doctor else [])],
            )
        )
        for eye in summary["eyes"].values()
        if eye["prediction"] is not None
    ]
    return builder.add(
        DiagnosticReport(
            id=f"examination-{examination.pk}",
            identifier=[Identifier(system=builder.system("examinations"), value=str(examination.pk))],
            status=status,
            code=CodeableConcept(coding=[REPORT_CODE], text="Diabetic-retinopathy screening, fundus photographs"),
            subject=subject,
            effectiveDateTime=examination.created_at,
            issued=issued,
            performer=[clinic],
            resultsInterpreter=[doctor] if doctor else None,
            result=results or None,
            conclusion=_conclusion(examination, summary),
            conclusionCode=_conclusion_code(builder, summary),
            presentedForm=[report] if report is not None else None,
        )
    )


def _add_patient(builder: BundleBuilder, patient: Patient) -> tuple[Reference, Reference]:
    """The patient and their clinic (the patient's managing organisation, the reports' performer)."""
    return builder.add(patient_resource(builder, patient)), builder.add(organization(patient.clinic))


def report_status(examination: Examination, review: Review | None) -> str:
    """DiagnosticReport.status (and each Observation's): preliminary until a doctor signs off, final once
    signed off, amended after an amendment; registered while grading, cancelled when grading failed,
    entered-in-error for an examination marked so."""
    if examination.voided_at is not None:
        return "entered-in-error"
    if examination.status in (Status.QUEUED, Status.RUNNING):
        return "registered"
    if examination.status == Status.FAILED:
        return "cancelled"
    if review is None:
        return "preliminary"
    return "amended" if review.amended_at is not None else "final"


def pdf_attachment(*, pdf: bytes, url: str, title: str, created: datetime) -> Attachment:
    """The report PDF for DiagnosticReport.presentedForm: the file itself, its address and SHA-1 (R4's hash)."""
    return Attachment(
        contentType="application/pdf",
        language="en",
        data=base64.b64encode(pdf),  # base64Binary: fhir.resources takes the encoded bytes
        url=url,
        size=len(pdf),
        hash=base64.b64encode(hashlib.sha1(pdf).digest()),  # R4's Attachment.hash is SHA-1
        title=title,
        creation=created,
    )


def pdf_link(*, url: str, title: str) -> Attachment:
    """The report PDF by its address only (the patient's Bundle: every examination's PDF would weigh it down)."""
    return Attachment(contentType="application/pdf", language="en", url=url, title=title)


def patient_resource(builder: BundleBuilder, patient: Patient) -> FhirPatient:
    return FhirPatient(
        id=f"patient-{patient.pk}",
        identifier=[
            Identifier(
                use="usual",
                type=CodeableConcept(
                    coding=[Coding(system=IDENTIFIER_TYPE, code="MR", display="Medical record number")]
                ),
                system=builder.system(f"clinics/{patient.clinic_id}/medical-record-numbers"),
                value=patient.medical_record_number,
            )
        ],
        name=[HumanName(use="official", family=patient.last_name, given=[patient.first_name])],
        gender=GENDER.get(patient.sex, "unknown"),
        birthDate=patient.date_of_birth,
        managingOrganization=Reference(reference=builder.full_url("Organization", f"clinic-{patient.clinic_id}")),
    )


def organization(clinic: Clinic) -> Organization:
    return Organization(id=f"clinic-{clinic.pk}", active=True, name=clinic.name)


def practitioner(builder: BundleBuilder, user: User) -> Practitioner:
    name = HumanName(text=user.get_full_name() or user.get_username())
    if user.last_name:
        name = HumanName(text=name.text, family=user.last_name, given=[user.first_name] if user.first_name else None)
    return Practitioner(
        id=f"user-{user.pk}",
        identifier=[Identifier(system=builder.system("users"), value=user.get_username())],
        name=[name],
    )


def device(builder: BundleBuilder, prediction: Prediction) -> Device:
    """The grading model: its version and the SHA-256 of its checkpoint, as the worker recorded them."""
    key = hashlib.sha256(f"{prediction.model_version}:{prediction.checkpoint_sha256}".encode()).hexdigest()[:24]
    return Device(
        id=f"model-{key}",
        identifier=[Identifier(system=builder.system("checkpoint-sha256"), value=prediction.checkpoint_sha256)],
        status="active",
        manufacturer="DR Portal",
        deviceName=[DeviceDeviceName(name=prediction.model_version, type="model-name")],
        type=CodeableConcept(text="Diabetic-retinopathy grading model (software)"),
        version=[
            DeviceVersion(type=CodeableConcept(text="model version"), value=prediction.model_version),
            DeviceVersion(type=CodeableConcept(text="checkpoint SHA-256"), value=prediction.checkpoint_sha256),
        ],
    )


def grade_concept(builder: BundleBuilder, *, grade: int | None, side: str, gradable: bool) -> CodeableConcept:
    """The grade as a coded value: SNOMED CT where a concept exists, the portal's class always, and what the
    class covers as text. An ungradable photograph is its own value (no SNOMED CT concept)."""
    if not gradable or grade not in DESCRIPTIONS:
        local = Coding(system=builder.system("CodeSystem/dr-grade"), code="ungradable", display=UNGRADABLE)
        return CodeableConcept(coding=[local], text=UNGRADABLE)
    local = Coding(system=builder.system("CodeSystem/dr-grade"), code=str(grade), display=Grade(grade).label)
    codings = [NO_DR[side], NO_APPARENT_RETINOPATHY] if grade == Grade.NO_DR else [SUBSUMING[grade]]
    return CodeableConcept(coding=[*codings, local], text=DESCRIPTIONS[grade])


def _eye_observation(
    builder: BundleBuilder,
    examination: Examination,
    eye: dict[str, Any],
    *,
    status: str,
    subject: Reference,
    issued: datetime | None,
    performers: list[Reference],
) -> Observation:
    side, prediction = eye["side"], eye["prediction"]
    reviewed = eye["reviewed_grade"]
    gradable = eye["gradable"] is not False
    # Once a doctor signed off, their grade is the value (the model's stays, as a component).
    value = grade_concept(
        builder,
        grade=reviewed if reviewed is not None else eye["grade"],
        side=side,
        gradable=gradable or reviewed is not None,
    )
    return Observation(
        id=f"examination-{examination.pk}-{side}",
        status=status,
        category=[CodeableConcept(coding=[Coding(system=OBSERVATION_CATEGORY, code="imaging", display="Imaging")])],
        code=CodeableConcept(
            coding=[
                SEVERITY_CODES[side],
                Coding(system=builder.system("CodeSystem/dr-observation"), code=f"grade-{side}"),
            ],
            text=f"Diabetic retinopathy, {side} eye",
        ),
        subject=subject,
        effectiveDateTime=examination.created_at,
        issued=issued,
        performer=performers,
        valueCodeableConcept=value,
        bodySite=CodeableConcept(coding=[EYE_STRUCTURES[side]], text=f"{side.capitalize()} eye"),
        method=CodeableConcept(text=_method(reviewed is not None)),
        device=builder.add(device(builder, prediction)),
        component=[
            _model_grade(builder, prediction, side, eye["gradable"] is not False),
            *_confidences(builder, prediction),
        ],
        # Why the photograph is ungradable, in the quality check's words.
        note=[Annotation(text=reason) for reason in eye["quality_reasons"]] or None,
    )


def _method(reviewed: bool) -> str:
    made = "Colour fundus photograph graded by the DR Portal model"
    return f"{made}; grade reviewed and signed off by a doctor" if reviewed else made


def _model_grade(builder: BundleBuilder, prediction: Prediction, side: str, gradable: bool) -> ObservationComponent:
    return ObservationComponent(
        code=CodeableConcept(coding=[_local(builder, "model-grade", "The model's grade")]),
        valueCodeableConcept=grade_concept(builder, grade=prediction.predicted_class, side=side, gradable=gradable),
    )


def _confidences(builder: BundleBuilder, prediction: Prediction) -> list[ObservationComponent]:
    """The model's confidence in each of its classes, a probability between 0 and 1 (a doctor's review
    choice the model does not output, such as Ungradable, has none)."""
    return [
        ObservationComponent(
            code=CodeableConcept(
                coding=[_local(builder, f"confidence-{grade}", f"The model's confidence: {grade.label}")],
                text=f"Model confidence: {DESCRIPTIONS[grade]}",
            ),
            valueQuantity=Quantity(
                value=round(getattr(prediction, CONFIDENCE_FIELDS[grade]), 6), unit="probability", system=UCUM, code="1"
            ),
        )
        for grade in CONFIDENCE_FIELDS
    ]


def _local(builder: BundleBuilder, code: str, display: str) -> Coding:
    return Coding(system=builder.system("CodeSystem/dr-observation"), code=code, display=display)


def _issued(examination: Examination, review: Review | None) -> datetime | None:
    if review is not None:
        return review.amended_at or review.signed_off_at
    return examination.completed_at if examination.status == Status.DONE else None


def _conclusion(examination: Examination, summary: dict[str, Any]) -> str | None:
    if examination.voided_at is not None:
        return f"Entered in error: {examination.void_reason}"
    if summary["review"] is not None and summary["doctor_recommendation_label"]:
        notes = summary["review"].notes
        answer = f"{summary['doctor_recommendation_label']} (the doctor's decision)."
        return f"{answer} Doctor's notes: {notes}" if notes else answer
    if summary["recommendation_label"]:
        return f"{summary['recommendation_label']} (the model's suggestion: not yet reviewed by a doctor)."
    return None


def _conclusion_code(builder: BundleBuilder, summary: dict[str, Any]) -> list[CodeableConcept] | None:
    answer = summary["doctor_recommendation"] or summary["referral"]["recommendation"]
    if not answer:
        return None
    system = builder.system("CodeSystem/dr-recommendation")
    label = RECOMMENDATION_LABELS[answer]
    return [CodeableConcept(coding=[Coding(system=system, code=answer, display=label)], text=label)]
