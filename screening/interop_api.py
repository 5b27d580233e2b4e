"""The API's interoperability answers: an examination's report as a PDF. The same rules as the rest of the
API: the caller's clinic only (404 otherwise, staff and doctors), every read audited."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.services import record_event
from dr_portal.api_negotiation import FileNegotiation

from . import selectors
from .report_pdf import NotReportable, report_pdf
from .report_views import pdf_response
from .views import _detail_context

CHANNEL = {"channel": "api"}


class ReportNotReady(APIException):
    status_code = 409
    default_detail = "This examination has not been graded: there is no report yet."
    default_code = "not_graded"


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
