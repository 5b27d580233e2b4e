"""Pagination for plain APIViews: every list answers {count, next, previous, results}."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView


class Pagination(PageNumberPagination):
    page_size = 25
    max_page_size = 100
    page_size_query_param = "page_size"


def paginated_response(
    *, queryset: QuerySet[Any], serializer_class: type[Serializer[Any]], request: Request, view: APIView
) -> tuple[Response, int | None]:
    """The page of results as a response, and the page number served (for the audit trail)."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request})
    served = getattr(paginator, "page", None)
    number = served.number if served else None
    return paginator.get_paginated_response(serializer.data), number
