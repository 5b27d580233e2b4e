"""The audit-trail API, for portal admins."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
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
        events = audit_event_list(filters=filters.validated_data)
        response, page = paginated_response(
            queryset=events, serializer_class=AuditEventOutputSerializer, request=request, view=self
        )
        # Reading the trail is itself on the trail: who looked at whose access history.
        record_event(
            action="audit.list", request=request, detail={"filters": _plain(filters.validated_data), "page": page}
        )
        return response


def _plain(filters: dict[str, object]) -> dict[str, object]:
    return {name: (value.isoformat() if hasattr(value, "isoformat") else value) for name, value in filters.items()}
