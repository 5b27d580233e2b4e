from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.admin import AuditedModelAdmin

from .models import Examination, EyeImage, Prediction, Review, ReviewRevision


class EyeImageInline(admin.TabularInline):
    model = EyeImage
    extra = 0
    fields = ["side", "file", "sha256", "width", "height", "format", "gradable"]
    readonly_fields = ["sha256", "width", "height", "format", "gradable"]


@admin.register(Examination)
class ExaminationAdmin(AuditedModelAdmin):
    list_display = ["id", "patient", "status", "created_at", "completed_at", "created_by", "voided_at"]
    list_filter = ["status", "patient__clinic", ("voided_at", admin.EmptyFieldListFilter)]
    search_fields = ["patient__medical_record_number", "patient__last_name", "notes"]
    date_hierarchy = "created_at"
    # Voiding goes through services.examination_void (checks, row lock, audit event), never an admin edit.
    readonly_fields = ["created_at", "started_at", "completed_at", "attempts", "voided_at", "voided_by", "void_reason"]
    raw_id_fields = ["patient"]
    list_select_related = ["patient", "created_by"]
    inlines = [EyeImageInline]


@admin.register(EyeImage)
class EyeImageAdmin(AuditedModelAdmin):
    list_display = ["id", "examination", "side", "format", "width", "height", "gradable", "created_at"]
    list_filter = ["side", "format", "gradable"]
    search_fields = ["sha256", "examination__patient__medical_record_number"]
    readonly_fields = ["sha256", "width", "height", "format", "quality", "created_at"]
    raw_id_fields = ["examination"]


@admin.register(Prediction)
class PredictionAdmin(AuditedModelAdmin):
    list_display = ["id", "eye_image", "predicted_class", "model_version", "inference_seconds", "created_at"]
    list_filter = ["predicted_class", "model_version"]
    search_fields = ["model_version", "checkpoint_sha256", "eye_image__examination__patient__medical_record_number"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["eye_image"]


class ReviewRevisionInline(admin.TabularInline):
    """The versions amendments replaced: shown, never added, changed or deleted (the database refuses too)."""

    model = ReviewRevision
    extra = 0
    fields = ["right_grade", "left_grade", "notes", "doctor", "signed_off_at", "amended_by", "amended_at", "reason"]
    readonly_fields = fields
    ordering = ["amended_at", "id"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Review | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Review | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Review | None = None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(AuditedModelAdmin):
    list_display = ["examination", "doctor", "right_grade", "left_grade", "signed_off_at", "amended_at"]
    list_filter = ["right_grade", "left_grade", ("amended_at", admin.EmptyFieldListFilter)]
    search_fields = ["examination__patient__medical_record_number", "doctor__username", "notes"]
    # A signed-off clinical decision changes only through the portal's amendment (services.review_amend:
    # the earlier version kept, a reason, the audit event), never by an edit here that leaves no trace.
    raw_id_fields = ["examination"]
    inlines = [ReviewRevisionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Review | None = None) -> list[str]:
        if obj is None:
            return ["amended_at"]
        return ["examination", "doctor", "right_grade", "left_grade", "notes", "signed_off_at", "amended_at"]
