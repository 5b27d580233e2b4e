from __future__ import annotations

from django.contrib import admin

from audit.admin import AuditedModelAdmin

from .models import Clinic, Membership, Patient


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    list_display = ["user", "clinic", "role", "created_at"]
    list_filter = ["role", "clinic"]
    search_fields = ["user__username", "clinic__name"]
    autocomplete_fields = ["user", "clinic"]


@admin.register(Patient)
class PatientAdmin(AuditedModelAdmin):
    list_display = ["medical_record_number", "last_name", "first_name", "date_of_birth", "sex", "clinic", "created_at"]
    list_filter = ["clinic", "sex"]
    search_fields = ["medical_record_number", "last_name", "first_name"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_by", "created_at", "updated_at"]
    list_select_related = ["clinic"]
