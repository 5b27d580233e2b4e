from __future__ import annotations

from django.contrib import admin

from audit.admin import AuditedModelAdmin

from .models import Examination, EyeImage, Prediction, Review


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


@admin.register(Review)
class ReviewAdmin(AuditedModelAdmin):
    list_display = ["examination", "doctor", "right_grade", "left_grade", "signed_off_at"]
    list_filter = ["right_grade", "left_grade"]
    search_fields = ["examination__patient__medical_record_number", "doctor__username", "notes"]
    raw_id_fields = ["examination"]
