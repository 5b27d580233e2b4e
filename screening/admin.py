from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from audit.admin import AuditedModelAdmin

from . import files
from .models import Examination, EyeImage, Prediction, ReferralClosure, Review, ReviewRevision

# The stored files are not public: /media/ is served by nobody (a file link there answers 404). The admin
# links to its own views of them instead, which, as the portal's, write the read to the audit trail.
VIA_ADMIN = {"via": "admin"}


class PhotographLink:
    """The `photograph` read-only field: a link to the photograph through EyeImageAdmin's audited view."""

    @admin.display(description="Photograph")
    def photograph(self, eye: EyeImage) -> str:
        if not eye.pk or not eye.file:
            return "-"
        url = reverse("admin:screening_eyeimage_photograph", args=[eye.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">Open the {} eye photograph</a>', url, eye.side)


class ClinicalRecordAdmin(AuditedModelAdmin):
    """A clinical record the portal's services write (with their checks and audit events): shown in the
    admin, never added here (an examination without its checked photographs, a prediction no model made,
    a sign-off by anyone for anything) and never deleted (a record entered in error is voided)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyRecordAdmin(ClinicalRecordAdmin):
    """Photographs and predictions: what was uploaded and what the model said, as they were."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EyeImageInline(PhotographLink, admin.TabularInline[EyeImage, Examination]):
    """The examination's two photographs, as checked and stored by the upload: nothing to add, swap or drop
    (a file put here would skip the upload checks, the hash and the quality check)."""

    model = EyeImage
    extra = 0
    readonly_fields = ("side", "photograph", "sha256", "width", "height", "format", "gradable")
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Examination | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Examination | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Examination | None = None) -> bool:
        return False


@admin.register(Examination)
class ExaminationAdmin(ClinicalRecordAdmin):
    list_display = ["id", "patient", "status", "created_at", "completed_at", "created_by", "voided_at"]
    list_filter = ["status", "patient__clinic", ("voided_at", admin.EmptyFieldListFilter)]
    search_fields = ["patient__medical_record_number", "patient__last_name", "notes"]
    date_hierarchy = "created_at"
    # Voiding goes through services.examination_void (checks, row lock, audit event), never an admin edit.
    # The patient (another clinic's, even), the grading state and the uploader are facts of the upload and
    # the worker: "done" typed here would be a result with no predictions. Only the notes are editable.
    readonly_fields = [
        "patient",
        "status",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "completed_at",
        "attempts",
        "heartbeat_at",
        "attempt_task_id",
        "enqueued_at",
        "voided_at",
        "voided_by",
        "void_reason",
    ]
    list_select_related = ["patient", "created_by"]
    inlines = [EyeImageInline]

    def save_model(self, request: HttpRequest, obj: Examination, form: Any, change: bool) -> None:
        # Only the notes: a whole-row save would write back the grading state read a moment ago over a
        # worker's newer one (its attempt, its heartbeat, `done`), and revive a fenced-off attempt.
        obj.save(update_fields=["notes"])


@admin.register(EyeImage)
class EyeImageAdmin(PhotographLink, ReadOnlyRecordAdmin):
    list_display = ["id", "examination", "side", "format", "width", "height", "gradable", "created_at"]
    list_filter = ["side", "format", "gradable"]
    search_fields = ["sha256", "examination__patient__medical_record_number"]
    readonly_fields = ["photograph", "sha256", "width", "height", "format", "quality", "created_at"]
    exclude = ["file"]
    raw_id_fields = ["examination"]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.photograph_view)
        return [path("<path:object_id>/photograph/", view, name="screening_eyeimage_photograph"), *super().get_urls()]

    def photograph_view(self, request: HttpRequest, object_id: str) -> FileResponse:
        eye = self.get_object(request, object_id)
        if eye is None or not self.has_view_permission(request, eye):
            raise Http404("No such photograph")
        return files.photograph_response(request, eye, VIA_ADMIN)


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyRecordAdmin):
    list_display = ["id", "eye_image", "predicted_class", "model_version", "inference_seconds", "created_at"]
    list_filter = ["predicted_class", "model_version"]
    search_fields = ["model_version", "checkpoint_sha256", "eye_image__examination__patient__medical_record_number"]
    readonly_fields = ["heatmap_link", "created_at"]
    exclude = ["heatmap"]
    raw_id_fields = ["eye_image"]

    @admin.display(description="Heatmap")
    def heatmap_link(self, prediction: Prediction) -> str:
        if not prediction.pk or not prediction.heatmap:
            return "-"
        url = reverse("admin:screening_prediction_heatmap", args=[prediction.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">Open the heatmap</a>', url)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.heatmap_view)
        return [path("<path:object_id>/heatmap/", view, name="screening_prediction_heatmap"), *super().get_urls()]

    def heatmap_view(self, request: HttpRequest, object_id: str) -> FileResponse:
        prediction = self.get_object(request, object_id)
        if prediction is None or not self.has_view_permission(request, prediction):
            raise Http404("No such heatmap")
        return files.prediction_heatmap_response(request, prediction, VIA_ADMIN)


class ReviewRevisionInline(admin.TabularInline[ReviewRevision, Review]):
    """The versions amendments replaced: shown, never added, changed or deleted (the database refuses too)."""

    model = ReviewRevision
    extra = 0
    readonly_fields = (
        "right_grade",
        "left_grade",
        "notes",
        "doctor",
        "signed_off_at",
        "amended_by",
        "amended_at",
        "reason",
    )
    fields = readonly_fields
    ordering = ["amended_at", "id"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Review | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Review | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Review | None = None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(ClinicalRecordAdmin):
    list_display = ["examination", "doctor", "right_grade", "left_grade", "signed_off_at", "amended_at"]
    list_filter = ["right_grade", "left_grade", ("amended_at", admin.EmptyFieldListFilter)]
    search_fields = ["examination__patient__medical_record_number", "doctor__username", "notes"]
    # A signed-off clinical decision changes only through the portal's amendment (reviews.review_amend:
    # the earlier version kept, a reason, the audit event), never by an edit here that leaves no trace.
    inlines = [ReviewRevisionInline]

    # A sign-off is reviews.review_create's (a doctor of the clinic, a graded examination not voided, the
    # audit event): no add here, hence no add form to make read-only.
    readonly_fields = ["examination", "doctor", "right_grade", "left_grade", "notes", "signed_off_at", "amended_at"]


@admin.register(ReferralClosure)
class ReferralClosureAdmin(ReadOnlyRecordAdmin):
    """Doctors' closures of referrals, as closures.referral_close wrote them (its checks and audit event):
    read here, never written here."""

    list_display = ["patient", "examination", "closed_by", "closed_at"]
    list_filter = ["closed_at"]
    search_fields = ["patient__medical_record_number", "closed_by__username", "outcome"]
    readonly_fields = ["patient", "examination", "closed_by", "closed_at", "outcome"]
