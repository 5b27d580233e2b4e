"""/api/v1/: the REST API of DESIGN.md, its OpenAPI schema and an interactive page for it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from audit.api import AuditEventListApi
from patients.api import PatientDetailApi, PatientListCreateApi, TokenObtainApi
from screening.api import (
    ExaminationCreateApi,
    ExaminationDetailApi,
    ExaminationReferralCloseApi,
    ExaminationReviewAmendApi,
    ExaminationReviewApi,
    ExaminationVoidApi,
    EyeImageApi,
    HeatmapApi,
    PatientExaminationListApi,
    StatisticsApi,
)
from screening.interop_api import ExaminationFhirApi, ExaminationReportPdfApi, PatientFhirApi

app_name = "api"


class SchemaView(SpectacularAPIView):
    """The schema. Its refusals (401 to a visitor not signed in) are JSON like every API error, not rendered
    in the YAML that the schema itself is served in by default."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SwaggerUiView(SpectacularSwaggerSplitView):
    """The interactive page. It renders through templates only, and DRF's OPTIONS answer (the view's
    metadata) names none, so OPTIONS was a 500 (TemplateDoesNotExist): it answers its headers (Allow)."""

    # DRF's options() and Django's disagree on the request and response types; this answers Django's plain one.
    def options(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        return HttpResponse()


urlpatterns = [
    path("auth/token/", TokenObtainApi.as_view(), name="token"),
    path("patients/", PatientListCreateApi.as_view(), name="patients"),
    path("patients/<id:patient_id>/", PatientDetailApi.as_view(), name="patient"),
    path("patients/<id:patient_id>/examinations/", PatientExaminationListApi.as_view(), name="patient_examinations"),
    path("patients/<id:patient_id>/fhir/", PatientFhirApi.as_view(), name="patient_fhir"),
    path("examinations/", ExaminationCreateApi.as_view(), name="examinations"),
    path("examinations/<id:examination_id>/", ExaminationDetailApi.as_view(), name="examination"),
    path("examinations/<id:examination_id>/review/", ExaminationReviewApi.as_view(), name="examination_review"),
    path(
        "examinations/<id:examination_id>/review/amend/",
        ExaminationReviewAmendApi.as_view(),
        name="examination_review_amend",
    ),
    path("examinations/<id:examination_id>/void/", ExaminationVoidApi.as_view(), name="examination_void"),
    path(
        "examinations/<id:examination_id>/referral/close/",
        ExaminationReferralCloseApi.as_view(),
        name="examination_referral_close",
    ),
    path("examinations/<id:examination_id>/fhir/", ExaminationFhirApi.as_view(), name="examination_fhir"),
    path(
        "examinations/<id:examination_id>/report.pdf", ExaminationReportPdfApi.as_view(), name="examination_report_pdf"
    ),
    path("examinations/<id:examination_id>/eyes/<str:side>/image/", EyeImageApi.as_view(), name="eye_image"),
    path("examinations/<id:examination_id>/eyes/<str:side>/heatmap/", HeatmapApi.as_view(), name="heatmap"),
    path("statistics/", StatisticsApi.as_view(), name="statistics"),
    path("audit-events/", AuditEventListApi.as_view(), name="audit_events"),
    path("schema/", SchemaView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own, and our template drops the
    # inline style: nothing inline, so the strict Content-Security-Policy holds.
    # A page for people: a visitor not signed in is sent to the login page and back (the schema answers 401).
    path(
        "docs/",
        login_required(SwaggerUiView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")),
        name="docs",
    ),
]
