"""The audit-trail API, for portal admins."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from dr_portal.api_pagination import Pagination, paginated_response

from .permissions import IsAuditor
from .selectors import audit_event_list
from .serializers import AuditEventFilterSerializer, AuditEventOutputSerializer
from .services import record_event


class AuditEventListApi(APIView):
    permission_classes = [IsAuthenticated, IsAuditor]
    pagination_class = Pagination  # read by the schema generator

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditEventFilterSerializer],
        responses=AuditEventOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = AuditEventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        # The trail grows while it is paged through (each page read is itself an event, newest first):
        # without an end, every page would start one event later and repeat the previous page's last.
        # The first page fixes the end at its own time, and its links carry it.
        snapshot = {} if "until" in filters.validated_data else {"until": timezone.now()}
        events = audit_event_list(filters=filters.validated_data | snapshot)
        response, page = paginated_response(
            queryset=events, serializer_class=AuditEventOutputSerializer, request=request, view=self
        )
        for link in ("next", "previous"):
            if snapshot and response.data.get(link):
                response.data[link] = replace_query_param(response.data[link], "until", snapshot["until"].isoformat())
        # Reading the trail is itself on the trail: who looked at whose access history.
        record_event(
            action="audit.list", request=request, detail={"filters": _plain(filters.validated_data), "page": page}
        )
        return response


def _plain(filters: dict[str, object]) -> dict[str, object]:
    return {name: (value.isoformat() if hasattr(value, "isoformat") else value) for name, value in filters.items()}
