from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse

from audit.admin import AuditedChangesMixin, AuditedModelAdmin, PortalAdminMixin
from audit.services import record_event

from . import accounts
from .models import ROLE_GROUPS, Clinic, Membership, Patient
from .services import DUPLICATE_MRN, birth_date_problem
from .text import identifier_problem, name_problem, normalised_identifier, normalised_name


class MembershipInline(admin.TabularInline[Membership, Clinic]):
    """Shown, not edited: a membership is added or changed in its own admin, which puts it on the trail."""

    model = Membership
    extra = 0
    readonly_fields = ("user", "role", "created_at")
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Clinic | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Clinic | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Clinic | None = None) -> bool:
        return False


@admin.register(Clinic)
class ClinicAdmin(AuditedChangesMixin, PortalAdminMixin, admin.ModelAdmin[Clinic]):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


class MembershipAdminForm(forms.ModelForm[Membership]):
    class Meta:
        model = Membership
        fields = ["user", "clinic", "role"]

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        if user.is_staff or user.is_superuser:
            # A Django-admin account sees every clinic here; a membership would also open one clinic's
            # pages to it, outside its clinic admin's reach (they cannot manage staff accounts).
            raise forms.ValidationError("A Django-admin (staff or superuser) account belongs to no clinic.")
        return user


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "clinic", "role", "created_at"]
    list_filter = ["role", "clinic"]
    search_fields = ["user__username", "clinic__name"]
    autocomplete_fields = ["user", "clinic"]

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The role's group follows the role, as a clinic admin's change of role keeps it.
        obj.user.groups.remove(*Group.objects.filter(name__in=ROLE_GROUPS.values()))
        obj.user.groups.add(Group.objects.get_or_create(name=ROLE_GROUPS[obj.role])[0])


class PatientAdminForm(forms.ModelForm[Patient]):
    """The registration's rules, which the admin form skipped: a birth date in the future or a record
    number another patient of the clinic has in other case was stored, or refused with the database
    constraint's name for a message."""

    class Meta:
        model = Patient
        fields = ["clinic", "medical_record_number", "first_name", "last_name", "date_of_birth", "sex"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name, problem_of, normalised in (
            ("medical_record_number", identifier_problem, normalised_identifier),
            ("first_name", name_problem, normalised_name),
            ("last_name", name_problem, normalised_name),
        ):
            if data.get(name):
                data[name] = normalised(data[name])  # stored as the registration stores it
            if data.get(name) and (problem := problem_of(data[name])) is not None:
                self.add_error(name, problem)
        if data.get("date_of_birth") and (problem := birth_date_problem(data["date_of_birth"])) is not None:
            self.add_error("date_of_birth", problem)
        # On a change the clinic is read-only, so not in the form: the patient's own.
        clinic = data.get("clinic") or (self.instance.clinic if self.instance.clinic_id else None)
        number = data.get("medical_record_number")
        if clinic is not None and number and self._number_taken(clinic, number):
            self.add_error("medical_record_number", DUPLICATE_MRN)
        return data

    def _number_taken(self, clinic: Clinic, number: str) -> bool:
        same = Patient.objects.filter(clinic=clinic, medical_record_number__iexact=number)
        return same.exclude(pk=self.instance.pk).exists()

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # Django's hook after clean(); django-stubs leaves it out
        # The model's constraint check repeats the duplicate by the constraint's name: the field's error
        # above already says it in the portal's words. (self.errors is the ErrorDict being filled: no re-clean.)
        errors = self.errors
        if self.has_error("medical_record_number") and NON_FIELD_ERRORS in errors:
            kept = [m for m in errors[NON_FIELD_ERRORS] if "patient_mrn_unique_per_clinic_ci" not in m]
            errors[NON_FIELD_ERRORS] = self.error_class(cast("list[str]", kept), error_class="nonfield")
            if not kept:
                del errors[NON_FIELD_ERRORS]


@admin.register(Patient)
class PatientAdmin(AuditedModelAdmin):
    form = PatientAdminForm
    list_display = ["medical_record_number", "last_name", "first_name", "date_of_birth", "sex", "clinic", "created_at"]
    list_filter = ["clinic", "sex"]
    search_fields = ["medical_record_number", "last_name", "first_name"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_by", "created_at", "updated_at"]
    list_select_related = ["clinic"]

    def get_readonly_fields(self, request: HttpRequest, obj: Patient | None = None) -> list[str]:
        # Changing a registered patient's clinic would hand their examinations, photographs and reviews to
        # another clinic's users, with a record number never checked against that clinic's.
        return [*self.readonly_fields, "clinic"] if obj is not None else list(self.readonly_fields)


# Django's own user and group admins, under the same superuser-only rule: the Clinic admin group's
# change_user permission would otherwise let a clinic admin with staff status make themselves superuser.
class PortalUserChangeForm(UserChangeForm[User]):
    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        membership = Membership.objects.filter(user=self.instance).select_related("clinic").first()
        if membership is not None and (data.get("is_staff") or data.get("is_superuser")):
            # The membership form's rule from the other side: a clinic account made superuser would see its
            # clinic's pages and every clinic's data in the admin, out of its clinic admin's reach.
            raise forms.ValidationError(
                f"This account is a {membership.get_role_display().lower()} of {membership.clinic}: a clinic "
                "account cannot have staff or superuser status. Remove its membership first."
            )
        return data


class PortalUserAdmin(AuditedChangesMixin, PortalAdminMixin, UserAdmin[User]):
    form = PortalUserChangeForm
    # A password reset or a deactivation here must cut off the user's API tokens too, as the clinic
    # admin's and the user's own pages do: a token issued before would otherwise keep working.

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the form was valid and saved
            user = self.get_object(request, unquote(id))
            assert user is not None  # the password form was just saved for this user
            revoked = accounts.password_reset_effects(user=user)
            record_event(action="password.reset", request=request, obj=user, detail={"api_tokens_revoked": revoked})
        return response

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            accounts.api_tokens_revoke(user=obj)


class PortalGroupAdmin(AuditedChangesMixin, PortalAdminMixin, GroupAdmin):
    pass


def _reregister(model: Any, model_admin: type[admin.ModelAdmin[Any]]) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)


_reregister(get_user_model(), PortalUserAdmin)
_reregister(Group, PortalGroupAdmin)
