"""The report page's PDF (session): the print page as a PDF file, audited. The API's twin is in
screening/interop_api.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from audit.services import record_event

from . import selectors
from .models import Examination
from .report_pdf import CONTENT_TYPE, NotReportable, report_filename, report_pdf
from .views import _detail_context


@login_required
@require_GET
def examination_report_pdf(request: HttpRequest, examination_id: int) -> HttpResponse:
    examination = selectors.examination_get(user=request.user, examination_id=examination_id)
    try:
        # The result page's own context: the PDF is the printed page.
        pdf = report_pdf(request=request, examination=examination, context=_detail_context(request, examination))
    except NotReportable as refusal:
        messages.error(request, str(refusal))
        return redirect("screening:detail", examination_id=examination.pk)
    record_event(action="examination.report", request=request, obj=examination, detail={"format": "pdf"})
    return pdf_response(pdf, examination)


def pdf_response(pdf: bytes, examination: Examination) -> HttpResponse:
    response = HttpResponse(pdf, content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'inline; filename="{report_filename(examination)}"'
    # A patient's record: never kept by a proxy, nor by the browser past this view.
    response["Cache-Control"] = "private, no-store"
    return response
