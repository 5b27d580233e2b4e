"""Patient pages: list with search, registration, detail, correction. Every read is scoped to the user's clinic.

The list and the patient page show each patient's screening (newest result, history, who is due for
rescreening) from screening.selectors: the patient record pages are where a clinic reads it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit.services import record_event, search_detail
from dr_portal.authenticated import AuthenticatedHttpRequest
from dr_portal.form_errors import add_errors
from screening import selectors as screening_selectors

from . import selectors, services
from .forms import PatientForm, PatientUpdateForm
from .models import Patient


@login_required
def patient_list(request: HttpRequest) -> HttpResponse:
    _require_clinical_role(request)
    # PostgreSQL text cannot hold a NUL byte: the search would fail as a 500 (and so would its audit
    # event). No stored field can contain one (the forms and the API refuse it), so dropping it loses nothing.
    query = request.GET.get("q", "").replace("\x00", "")
    due = request.GET.get("due") == "1"
    patients = selectors.patient_list(user=request.user, search=query)
    if due:
        patients = screening_selectors.due_for_rescreening(patients=patients)
    page = Paginator(patients, 25).get_page(request.GET.get("page"))
    detail = {**search_detail(query, page.paginator.count), "page": page.number, "due": due}
    record_event(action="patient.list", request=request, detail=detail)
    rows = _with_latest_examination(list(page.object_list))
    return render(
        request,
        "patients/patient_list.html",
        {"page": page, "rows": rows, "query": query, "due": due, "rescreen_days": settings.RESCREEN_INTERVAL_DAYS},
    )


@login_required
def patient_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_clinical_role(request)
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # One transaction with its event: a registration the trail cannot record is not kept.
            with transaction.atomic():
                patient = services.patient_create(user=request.user, **form.cleaned_data)
                record_event(action="patient.create", request=request, obj=patient)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            return redirect("patients:detail", patient_id=patient.pk)
    return render(request, "patients/patient_form.html", {"form": form})


@login_required
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = selectors.patient_get(user=request.user, patient_id=patient_id)
    record_event(action="patient.view", request=request, obj=patient)
    # Who may correct a record is who may register one; today everyone who sees this page may.
    can_update = selectors.clinical_membership_for(request.user) is not None
    context = {
        "patient": patient,
        "can_update": can_update,
        **screening_selectors.patient_history_context(patient=patient, user=request.user),
    }
    return render(request, "patients/patient_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def patient_update(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    # The selector answers 404 to other clinics and to roles without patient data, as the patient page does.
    patient = selectors.patient_get(user=request.user, patient_id=patient_id)
    # Pre-filled through `initial`, not `instance`: a ModelForm writes its input into its instance while
    # validating, and the page must keep showing the stored record beside a refused correction.
    initial = _form_values(patient) | {"version": services.patient_version(patient)}
    form = PatientUpdateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            _, changed = services.patient_update(
                user=request.user, patient=patient, request=request, **form.cleaned_data
            )
        except services.StalePatientUpdate as exc:
            # The fields hold an older version than the record's: show the current one to correct again.
            messages.error(request, " ".join(exc.messages))
            return redirect("patients:update", patient_id=patient.pk)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Details corrected." if changed else "Nothing to change.")
            return redirect("patients:detail", patient_id=patient.pk)
    # The form shows the whole record (again, beside a refused correction): a read of it, audited as the
    # patient page is.
    record_event(action="patient.view", request=request, obj=patient, detail={"form": "update"})
    return render(request, "patients/patient_form.html", {"form": form, "patient": patient})


def _require_clinical_role(request: HttpRequest) -> None:
    # Clinic admins and superusers without a clinic see no patient data: 403 on the list and the form.
    # Single patients answer 404 through the selector, as another clinic's do, so existence never leaks.
    if selectors.clinical_membership_for(request.user) is None:
        raise PermissionDenied("Only clinic staff and doctors can see patients.")


def _form_values(patient: Patient) -> dict[str, object]:
    return {name: getattr(patient, name) for name in PatientForm.Meta.fields}


def _with_latest_examination(patients: list[Patient]) -> list[tuple[Patient, dict[str, object] | None]]:
    """Each patient with their newest examination's summary (None for a patient never examined)."""
    latest = screening_selectors.latest_examinations(patients=patients)
    return [(patient, latest.get(patient.pk)) for patient in patients]
