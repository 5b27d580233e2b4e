"""The patient API: parse input, call one selector or service, audit, render."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import record_event, search_detail
from dr_portal.api_pagination import Pagination, paginated_response
from dr_portal.authenticated import AuthenticatedRequest
from dr_portal.throttling import ScopedThrottle
from screening import selectors as screening_selectors

from . import selectors, services
from .authentication import token_issue
from .models import Patient
from .permissions import IsClinicalMember
from .serializers import (
    PatientCreateInputSerializer,
    PatientOutputSerializer,
    PatientSearchSerializer,
    PatientUpdateInputSerializer,
    TokenObtainInputSerializer,
    TokenOutputSerializer,
)

CHANNEL = {"channel": "api"}


class PatientListApi(APIView):
    permission_classes = [IsAuthenticated, IsClinicalMember]
    pagination_class = Pagination  # read by the schema generator

    @extend_schema(
        operation_id="patients_list", parameters=[PatientSearchSerializer], responses=PatientOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        params = PatientSearchSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        search, due = params.validated_data["search"], params.validated_data["due_for_rescreening"]
        patients = selectors.patient_list(user=request.user, search=search)
        if due:
            patients = screening_selectors.due_for_rescreening(patients=patients)
        response, page = paginated_response(
            queryset=patients, serializer_class=PatientOutputSerializer, request=request, view=self
        )
        detail = {**CHANNEL, **search_detail(search, response.data["count"]), "page": page, "due": due}
        record_event(action="patient.list", request=request, detail=detail)
        return response


class PatientCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsClinicalMember]

    @extend_schema(
        operation_id="patients_create",
        request=PatientCreateInputSerializer,
        responses={201: PatientOutputSerializer, 400: OpenApiResponse(description="Invalid fields")},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = PatientCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # One transaction with its event: a registration the trail cannot record is not kept (a 500, and
        # a retry registers the patient once), as patient_update does for corrections.
        with transaction.atomic():
            patient = services.patient_create(user=request.user, **data.validated_data)
            record_event(action="patient.create", request=request, obj=patient, detail=CHANNEL)
        return Response(PatientOutputSerializer(patient).data, status=status.HTTP_201_CREATED)


class PatientListCreateApi(PatientListApi, PatientCreateApi):
    """The contract puts the list (GET) and the registration (POST) on one path, /patients/; each stays
    its own class with its own serializers, and this one only joins them for the URL."""


class PatientDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="patients_retrieve", responses=PatientOutputSerializer)
    def get(self, request: Request, patient_id: int) -> Response:
        # No role check before the lookup: the selector answers 404 to everyone outside the clinic's
        # staff and doctors (clinic admins included), so nobody learns which ids exist.
        patient = selectors.patient_get(user=request.user, patient_id=patient_id)
        record_event(action="patient.view", request=request, obj=patient, detail=CHANNEL)
        return _with_etag(Response(PatientOutputSerializer(patient).data), patient)

    @extend_schema(
        operation_id="patients_partial_update",
        request=PatientUpdateInputSerializer,
        parameters=[
            OpenApiParameter(
                "If-Match",
                location=OpenApiParameter.HEADER,
                required=False,
                description="The ETag of the record as the client read it; a colleague's change since answers 412",
            )
        ],
        responses={
            200: PatientOutputSerializer,
            400: OpenApiResponse(description="Invalid fields"),
            412: OpenApiResponse(description="If-Match is not the record's current ETag: nothing changed"),
        },
    )
    def patch(self, request: AuthenticatedRequest, patient_id: int) -> Response:
        # The lookup first, as for GET: 404 outside the clinic's staff and doctors, who are exactly the
        # roles that may register patients, so no separate role check is needed here.
        patient = selectors.patient_get(user=request.user, patient_id=patient_id)
        data = PatientUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        # If-Match (other than "*") guards the change: the record must still be the version read here,
        # and the header must list it; an empty or malformed tag lists nothing, so a client that meant to
        # guard its change gets 412, never an unguarded write.
        if_match = request.headers.get("If-Match")
        version = None if if_match is None or if_match.strip() == "*" else services.patient_version(patient)
        if version is not None and version not in _if_match_tags(if_match or ""):
            return _precondition_failed()
        try:
            patient, changed = services.patient_update(
                user=request.user,
                patient=patient,
                version=version,
                request=request,
                audit_detail=CHANNEL,
                **data.validated_data,
            )
        except services.StalePatientUpdate:
            return _precondition_failed()
        if not changed:
            # The answer shows the whole record, and the service audits only a change: a PATCH that
            # changes nothing is a read, on the trail as one (else `{}` would read any patient unseen).
            detail = {**CHANNEL, "changed": []}
            record_event(action="patient.view", request=request, obj=patient, detail=detail)
        return _with_etag(Response(PatientOutputSerializer(patient).data), patient)


def _with_etag(response: Response, patient: Patient) -> Response:
    # The record's version as an HTTP entity tag: a client sends it back in If-Match to update safely.
    response["ETag"] = f'"{services.patient_version(patient)}"'
    return response


def _if_match_tags(header: str) -> set[str]:
    """The entity tags an If-Match header lists, weak or strong, quotes removed."""
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}


def _precondition_failed() -> Response:
    return Response({"detail": services.STALE_UPDATE}, status=status.HTTP_412_PRECONDITION_FAILED)


class TokenObtainApi(APIView):
    """Username and password in, {"token": ...} out. Goes through django.contrib.auth.authenticate with
    the request, so the lockout applies and failures land on the audit trail like the login page's."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "token"

    @extend_schema(
        operation_id="auth_token_create",
        request=TokenObtainInputSerializer,
        responses={200: TokenOutputSerializer, 400: OpenApiResponse(description="Wrong credentials")},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = TokenObtainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The underlying HttpRequest: django-axes flags lockouts on it, and its middleware reads them there.
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            raise ValidationError({"non_field_errors": ["Unable to log in with the credentials provided."]})
        token = token_issue(user=user)
        record_event(action="auth.token", request=request, actor=user)
        return Response({"token": token.key})
