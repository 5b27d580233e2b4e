"""The screening API: upload a paired examination, read its status and results, review it, amend the
review, mark it entered in error, close its referral, and a patient's history. Parse input, call one
selector or service, audit, render."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import record_event
from dr_portal.api_negotiation import FileNegotiation
from dr_portal.api_pagination import Pagination, paginated_response
from dr_portal.authenticated import AuthenticatedRequest
from dr_portal.throttling import ScopedThrottle
from patients import selectors as patient_selectors
from patients.permissions import IsClinicalMember

from . import closures, files, reviews, selectors, services
from .models import Examination
from .serializers import (
    ExaminationCreateInputSerializer,
    ExaminationOutputSerializer,
    ReferralCloseInputSerializer,
    ReferralClosureOutputSerializer,
    ReviewAmendInputSerializer,
    ReviewCreateInputSerializer,
    VoidInputSerializer,
)

CHANNEL = {"channel": "api"}


class ExaminationCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsClinicalMember]
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "uploads"

    @extend_schema(
        operation_id="examinations_create",
        request={"multipart/form-data": ExaminationCreateInputSerializer},
        responses={
            202: ExaminationOutputSerializer,
            400: OpenApiResponse(description="Invalid fields: one message per field, nothing saved"),
            413: OpenApiResponse(description="Request body over MAX_REQUEST_BYTES (dr_portal.middleware)"),
            429: OpenApiResponse(description="Too many uploads: retry later"),
        },
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = ExaminationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A body reference, not a URL: another clinic's patient is a 400 "No such patient" (the service
        # words it the same as a missing one), so nothing leaks and the client learns which field is wrong.
        patient = patient_selectors.patient_list(user=request.user).filter(pk=data.validated_data["patient"]).first()
        # The service records examination.create in the upload's own transaction.
        examination = services.examination_create(
            user=request.user,
            patient=patient,  # type: ignore[arg-type]
            right_eye=data.validated_data["right_eye"],
            left_eye=data.validated_data["left_eye"],
            notes=data.validated_data["notes"],
            request=request,
            audit_detail=CHANNEL,
        )
        examination = selectors.examination_get(user=request.user, examination_id=examination.pk)
        return Response(_render(examination, request), status=status.HTTP_202_ACCEPTED)


class ExaminationDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="examinations_retrieve", responses=ExaminationOutputSerializer)
    def get(self, request: Request, examination_id: int) -> Response:
        # No role check first: the selector answers 404 outside the clinic's staff and doctors.
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        record_event(action="examination.view", request=request, obj=examination, detail=CHANNEL)
        return Response(_render(examination, request))


class EyeImageApi(APIView):
    permission_classes = [IsAuthenticated]
    content_negotiation_class = FileNegotiation

    @extend_schema(
        operation_id="examinations_eye_image",
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "application/dicom"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="A DICOM photograph: as a JPEG of its pixels, or, to a client whose Accept names "
                "application/dicom, the camera's original file",
            ),
            404: OpenApiResponse(description="No such examination or side in the caller's clinic"),
        },
    )
    def get(self, request: Request, examination_id: int, side: str) -> FileResponse:
        # No role check first: the selector answers 404 outside the clinic's staff and doctors.
        return files.eye_image_response(request, examination_id, side, CHANNEL)


class HeatmapApi(APIView):
    permission_classes = [IsAuthenticated]
    content_negotiation_class = FileNegotiation

    @extend_schema(
        operation_id="examinations_heatmap",
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="Not graded yet, or no such examination or side in the caller's clinic"),
        },
    )
    def get(self, request: Request, examination_id: int, side: str) -> FileResponse:
        return files.heatmap_response(request, examination_id, side, CHANNEL)


class ExaminationReviewApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="examinations_review_create",
        request=ReviewCreateInputSerializer,
        responses={
            201: ExaminationOutputSerializer,
            400: OpenApiResponse(
                description="Invalid grades, not graded yet, already reviewed, or entered in error (voided)"
            ),
            403: OpenApiResponse(description="Only doctors review"),
        },
    )
    def post(self, request: AuthenticatedRequest, examination_id: int) -> Response:
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        # Checked before the body: staff learn they may not review, not what a valid review is.
        patient_selectors.doctor_membership_for(request.user, refusal="Only doctors review examinations.")
        data = ReviewCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The service records review.create in the sign-off's own transaction.
        reviews.review_create(
            user=request.user, examination=examination, **data.validated_data, request=request, audit_detail=CHANNEL
        )
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        return Response(_render(examination, request), status=status.HTTP_201_CREATED)


class ExaminationReviewAmendApi(APIView):
    """Replace a signed-off review's grades and notes, with a reason; the earlier version is kept."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="examinations_review_amend_create",
        request=ReviewAmendInputSerializer,
        responses={
            200: ExaminationOutputSerializer,
            400: OpenApiResponse(
                description="Invalid grades, reason missing, blank or too long; not signed off yet, entered in "
                "error (voided), nothing changed, or amended by a colleague since revisions_seen"
            ),
            403: OpenApiResponse(description="Only doctors amend reviews"),
            404: OpenApiResponse(description="No such examination in the caller's clinic"),
        },
    )
    def post(self, request: AuthenticatedRequest, examination_id: int) -> Response:
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        # Checked before the body: staff learn they may not amend, not what a valid amendment is.
        patient_selectors.doctor_membership_for(request.user, refusal="Only doctors amend reviews.")
        data = ReviewAmendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reviews.review_amend(
            user=request.user, examination=examination, **data.validated_data, request=request, audit_detail=CHANNEL
        )
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        return Response(_render(examination, request))


class ExaminationVoidApi(APIView):
    """Mark an examination "entered in error": kept in the record, no longer counted anywhere."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="examinations_void_create",
        request=VoidInputSerializer,
        responses={
            200: ExaminationOutputSerializer,
            400: OpenApiResponse(description="reason missing, blank or too long; or already entered in error"),
            403: OpenApiResponse(description="Staff on an examination a doctor signed off: only a doctor may"),
            404: OpenApiResponse(description="No such examination in the caller's clinic"),
        },
    )
    def post(self, request: AuthenticatedRequest, examination_id: int) -> Response:
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        # Checked before the body, as the page does: staff learn a signed-off examination is a doctor's to void.
        refusal = services.void_refusal(user=request.user, examination=examination)
        if refusal is not None:
            raise PermissionDenied(refusal)
        data = VoidInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.examination_void(
            user=request.user,
            examination=examination,
            reason=data.validated_data["reason"],
            request=request,
            audit_detail=CHANNEL,
        )
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        return Response(_render(examination, request))


class ExaminationReferralCloseApi(APIView):
    """Close the patient's open referral through this examination (it and every earlier open one), with the
    outcome; as "Close the referral" on the pages."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="examinations_referral_close_create",
        request=ReferralCloseInputSerializer,
        responses={
            201: ReferralClosureOutputSerializer,
            400: OpenApiResponse(description="outcome missing, blank or too long; or this referral is not open"),
            403: OpenApiResponse(description="Only doctors close referrals"),
            404: OpenApiResponse(description="No such examination in the caller's clinic"),
        },
    )
    def post(self, request: AuthenticatedRequest, examination_id: int) -> Response:
        examination = selectors.examination_get(user=request.user, examination_id=examination_id)
        # Checked before the body: staff learn they may not close a referral, not what a valid closure is.
        patient_selectors.doctor_membership_for(request.user, refusal=closures.ONLY_DOCTORS)
        data = ReferralCloseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        closure = closures.referral_close(
            user=request.user,
            patient=examination.patient,
            through=examination.pk,
            outcome=data.validated_data["outcome"],
            request=request,
            audit_detail=CHANNEL,
        )
        return Response(ReferralClosureOutputSerializer(closure).data, status=status.HTTP_201_CREATED)


class StatisticsApi(APIView):
    """The doctors' statistics page as JSON: the clinic's last 12 months and the model against reviews."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="statistics_retrieve",
        responses={
            200: OpenApiResponse(description="since, months (newest first), totals, agreement"),
            403: OpenApiResponse(description="Only doctors see the statistics"),
        },
    )
    def get(self, request: Request) -> Response:
        membership = patient_selectors.doctor_membership_for(request.user, refusal="The statistics are for doctors.")
        from .statistics import clinic_statistics, month_json

        figures = clinic_statistics(clinic_id=membership.clinic_id)
        since = figures["since"].date().isoformat()
        record_event(action="statistics.view", request=request, detail={**CHANNEL, "since": since})
        agreement = {key: value for key, value in figures["agreement"].items() if key != "rows"}
        return Response(
            {
                "since": since,
                "months": [month_json(row) for row in figures["months"]],
                # The whole window since `since`: not one month, so it names none.
                "totals": {k: v for k, v in month_json(figures["totals"]).items() if k != "month"},
                "agreement": agreement,
            }
        )


class PatientExaminationListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination  # read by the schema generator

    @extend_schema(operation_id="patients_examinations_list", responses=ExaminationOutputSerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
        examinations = selectors.examination_list(user=request.user, patient=patient)
        response, page = paginated_response(
            queryset=examinations, serializer_class=ExaminationOutputSerializer, request=request, view=self
        )
        record_event(action="examination.list", request=request, obj=patient, detail={**CHANNEL, "page": page})
        return response


def _render(examination: Examination, request: Request) -> dict[str, Any]:
    return ExaminationOutputSerializer(examination, context={"request": request}).data
