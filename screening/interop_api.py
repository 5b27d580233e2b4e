"""The API's interoperability answers: an examination's or a patient's FHIR R4 Bundle, and an examination's
report as a PDF. The same rules as the rest of the API: the caller's clinic only (404 otherwise, staff and
doctors), every read audited."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from fhir.resources.R4B.attachment import Attachment
from fhir.resources.R4B.bundle import Bundle
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.services import record_event
from dr_portal.api_negotiation import FileNegotiation
from patients import selectors as patient_selectors

from . import fhir, selectors
from .models import Examination, Status
from .report_pdf import NotReportable, report_filename, report_pdf
from .report_views import pdf_response
from .views import _detail_context

CHANNEL = {"channel": "api"}
FHIR_BUNDLE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="A FHIR R4 Bundle (type collection): Patient, Organization, Practitioner, Device, DiagnosticReport "
    "and an Observation per graded eye (docs/integrations.md)",
)


class ReportNotReady(APIException):
    status_code = 409
    default_detail = "This examination has not been graded: there is no report yet."
    default_code = "not_graded"


class ExaminationFhirApi(APIView):
    permission_classes = [IsAuthenticated]
    content_negotiation_class = FileNegotiation

    @extend_schema(operation_id="examinations_fhir_retrieve", responses={(200, fhir.CONTENT_TYPE): FHIR_BUNDLE})
    def get(self, request: Request, examination_id: int) -> HttpResponse:
        # No role check first: the selector answers 404 outside the clinic's staff and doctors.
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        report = _report_attachment(request, examination)
        bundle = fhir.examination_bundle(examination=examination, base=_base(request), report=report)
        detail = {**CHANNEL, "format": "fhir", "pdf": report is not None}
        record_event(action="examination.export", request=request, obj=examination, detail=detail)
        return fhir_response(bundle)


class PatientFhirApi(APIView):
    permission_classes = [IsAuthenticated]
    content_negotiation_class = FileNegotiation

    @extend_schema(operation_id="patients_fhir_retrieve", responses={(200, fhir.CONTENT_TYPE): FHIR_BUNDLE})
    def get(self, request: Request, patient_id: int) -> HttpResponse:
        patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
        examinations = list(selectors.examination_list(user=request.user, patient=patient).order_by("created_at", "id"))
        # Each report by its address: every examination's PDF in the one answer would weigh it down.
        reports = {e.pk: _report_link(request, e) for e in examinations if e.status == Status.DONE}
        bundle = fhir.patient_bundle(patient=patient, examinations=examinations, base=_base(request), reports=reports)
        detail = {**CHANNEL, "format": "fhir", "examinations": len(examinations)}
        record_event(action="patient.export", request=request, obj=patient, detail=detail)
        return fhir_response(bundle)


class ExaminationReportPdfApi(APIView):
    permission_classes = [IsAuthenticated]
    content_negotiation_class = FileNegotiation

    @extend_schema(
        operation_id="examinations_report_pdf",
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The print page as a PDF: preliminary, or signed off by a doctor"
            ),
            409: OpenApiResponse(description="Not graded yet (queued, running) or grading failed: no report"),
        },
    )
    def get(self, request: Request, examination_id: int) -> HttpResponse:
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        try:
            pdf = report_pdf(request=request, examination=examination, context=_detail_context(request, examination))
        except NotReportable as refusal:
            raise ReportNotReady(str(refusal)) from None
        record_event(action="examination.report", request=request, obj=examination, detail={**CHANNEL, "format": "pdf"})
        return pdf_response(pdf, examination)


def fhir_response(bundle: Bundle) -> HttpResponse:
    response = HttpResponse(bundle.model_dump_json(), content_type=fhir.CONTENT_TYPE)
    response["Cache-Control"] = "private, no-store"
    return response


def _base(request: Request) -> str:
    return request.build_absolute_uri("/")


def _report_attachment(request: Request, examination: Examination) -> Attachment | None:
    """The report PDF, for the DiagnosticReport's presentedForm; None before grading has finished."""
    try:
        pdf = report_pdf(request=request, examination=examination, context=_detail_context(request, examination))
    except NotReportable:
        return None
    link = _report_link(request, examination)
    return fhir.pdf_attachment(pdf=pdf, url=str(link.url), title=str(link.title), created=timezone.now())


def _report_link(request: Request, examination: Examination) -> Attachment:
    url = request.build_absolute_uri(reverse("api:examination_report_pdf", kwargs={"examination_id": examination.pk}))
    return fhir.pdf_link(url=url, title=report_filename(examination))
