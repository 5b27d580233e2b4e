from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from .exports import csv_rows
from .models import AuditEvent
from .services import patient_of, record_event, search_detail


class PortalAdminMixin:
    """Rules every admin of the portal's data follows. Who may use the admin at all (active superusers
    only) is the site's rule: dr_portal/admin_site.py."""

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        # PostgreSQL text cannot hold NUL: the autocomplete view passes its term here unchecked (a 500).
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))  # type: ignore[misc]


class AuditedChangesMixin:
    """Every add, change and delete made in the Django admin lands on the audit trail, with where the request
    came from: for patient data (AuditedModelAdmin), and for accounts, groups and clinics, where a change
    (superuser status granted, an account reactivated) opens patient data to someone."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        record_event(action="admin.add", request=request, obj=obj, detail={"change": message})
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        record_event(action="admin.change", request=request, obj=obj, detail={"change": message})
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)  # type: ignore[misc]
        if "delete_selected" in actions:
            # Django's bulk delete writes its log (our admin.delete events) and then deletes, outside any
            # transaction: a delete that failed half way left events for rows still there. One transaction.
            function, name, description = actions["delete_selected"]
            actions["delete_selected"] = (transaction.atomic(function), name, description)
        return actions

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # Called before the rows go, so each object's patient can still be resolved. The object's text names
        # an account or a clinic, kept; for patient data it names the patient (a patient's or an examination's
        # text is the name and record number): the event's patient and object id say which, no name is kept.
        for obj in queryset:
            detail = {} if patient_of(obj) is not None else {"repr": str(obj)[:200]}
            record_event(action="admin.delete", request=request, obj=obj, detail=detail)
        return super().log_deletions(request, queryset)  # type: ignore[misc]


class AuditedModelAdmin(AuditedChangesMixin, PortalAdminMixin, admin.ModelAdmin[Any]):
    """For the admins of patient data: every add, change, delete and object view made in the Django
    admin lands on the audit trail, with the patient it concerns and where the request came from."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # Any page shown is a read, also a POST's: an action's confirmation lists the chosen rows.
        if response.status_code == 200:
            # A list of patient data is a read too; which rows were shown is the filters' business.
            detail = {"model": self.opts.label_lower, **_query(request, response)}
            record_event(action="admin.list", request=request, detail=detail)
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        # 200 after a POST is the form shown again with its errors: the record is read all the same.
        self._record_view(request, response, object_id, page="change")
        return response

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # The history names the object (a patient's name) and lists what was changed, when and by whom.
        response = super().history_view(request, object_id, extra_context)
        self._record_view(request, response, object_id, page="history")
        return response

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # The confirmation page names the object and everything that would go with it.
        response = super().delete_view(request, object_id, extra_context)
        self._record_view(request, response, object_id, page="delete")
        return response

    def _record_view(self, request: HttpRequest, response: HttpResponse, object_id: str, *, page: str) -> None:
        if response.status_code != 200:
            return
        obj = self.get_object(request, object_id)
        if obj is not None:
            detail = {} if page == "change" else {"page": page}
            record_event(action="admin.view", request=request, obj=obj, detail=detail)


def _query(request: HttpRequest, response: HttpResponse | None = None) -> dict[str, Any]:
    """The list's filters as the trail keeps them: the search box's text (`q`, a patient's name as often as
    not) only as the fact of a search and the count of rows it matched, as on the patient list."""
    filters = {name: values for name, values in request.GET.lists() if name != SEARCH_VAR}
    detail: dict[str, Any] = {"query": filters} if filters else {}
    if SEARCH_VAR in request.GET:
        changelist = getattr(response, "context_data", None) or {}
        count = changelist["cl"].result_count if "cl" in changelist else None
        detail |= search_detail(request.GET[SEARCH_VAR], count)
    return detail


@admin.register(AuditEvent)
class AuditEventAdmin(PortalAdminMixin, admin.ModelAdmin[AuditEvent]):
    """Read-only: the trail is append-only, in the admin and in the database. Exports as CSV."""

    list_display = ["timestamp", "action", "username", "object_type", "object_id", "patient_id", "ip_address"]
    list_filter = ["action", "object_type"]
    search_fields = ["username", "action", "object_id", "ip_address"]
    date_hierarchy = "timestamp"
    change_list_template = "admin/audit/auditevent/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            # Reading the trail is itself on the trail, as on the API (audit.list) and for the export.
            record_event(action="audit.list", request=request, detail={"channel": "admin", **_query(request, response)})
        return response

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEvent | None = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        export = path("export.csv", self.admin_site.admin_view(self.export_csv), name="audit_auditevent_export")
        return [export, *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        """The changelist's current selection (filters, search, date) as CSV, for those who may view it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            events = self._filtered(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter in the export link.", content_type="text/plain")
        query = _query(request)
        record_event(action="audit.export", request=request, detail={"filters": query.pop("query", {}), **query})
        response = StreamingHttpResponse(csv_rows(events.iterator(chunk_size=2000)), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
        return response

    def _filtered(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        # The changelist applies exactly the filters the admin sees; its queryset is what they chose.
        return self.get_changelist_instance(request).get_queryset(request)
