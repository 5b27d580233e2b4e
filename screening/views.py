"""Screening pages: upload, result (with polling), photographs and heatmaps, worklist, review and its
amendment, "entered in error".

Thin: parse input, call one service or selector, render. Photographs and heatmaps are patient data and
are only ever served here, after the clinic check, and audited; never as public /media/ files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms import Form
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.services import record_event
from dr_portal.authenticated import AuthenticatedHttpRequest
from dr_portal.form_errors import add_errors
from dr_portal.throttling import throttle_posts
from patients.selectors import clinical_membership_for, doctor_membership_for, patient_get

from . import closures, files, reviews, selectors, services, waiting
from .forms import AmendReviewForm, ExaminationForm, ReferralCloseForm, ReviewForm, VoidForm
from .models import Examination, Review, Status


@login_required
@require_http_methods(["GET", "POST"])
@throttle_posts("uploads", "uploads")  # the same rate and counter as the API's uploads
def examination_upload(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get(user=request.user, patient_id=patient_id)
    form = ExaminationForm(request.POST, request.FILES) if request.method == "POST" else ExaminationForm()
    on_file = None  # the examination holding a pair refused as already filed: the page links to it
    if form.is_bound and form.is_valid():
        try:
            examination = services.examination_create(
                user=request.user,
                patient=patient,
                right_eye=form.cleaned_data["right_eye"],
                left_eye=form.cleaned_data["left_eye"],
                notes=form.cleaned_data["notes"],
                request=request,
            )
        except ValidationError as error:
            add_errors(form, error)
            on_file = error.earlier if isinstance(error, services.PairOnFile) else None
        else:
            if request.headers.get("X-Upload-Page") == "fetch":
                # upload.js sent the form itself (to keep a valid photograph when the other is refused): it
                # goes to the examination; a redirect would be followed by fetch, reading the page twice.
                return JsonResponse({"location": reverse("screening:detail", args=[examination.pk])}, status=201)
            return redirect("screening:detail", examination_id=examination.pk)
    # The form names the patient (name and record number): a read, audited as the edit form is.
    record_event(action="patient.view", request=request, obj=patient, detail={"form": "upload"})
    status = 400 if form.errors else 200
    context = {"patient": patient, "form": form, "on_file": on_file}
    return render(request, "screening/upload.html", context, status=status)


@login_required
@require_GET
def examination_detail(request: HttpRequest, examination_id: int) -> HttpResponse:
    examination = selectors.examination_get(user=request.user, examination_id=examination_id)
    record_event(action="examination.view", request=request, obj=examination)
    return render(request, "screening/result.html", _detail_context(request, examination))


def _detail_context(
    request: HttpRequest,
    examination: Examination,
    review_form: Form | None = None,
    void_form: Form | None = None,
    amend_form: Form | None = None,
) -> dict[str, Any]:
    summary = selectors.examination_summary(examination)
    membership = clinical_membership_for(request.user)
    voided = examination.voided_at is not None
    doctor = bool(membership and membership.can_review)
    can_review = doctor and examination.status == Status.DONE and summary["review"] is None and not voided
    can_amend = doctor and summary["review"] is not None and not voided
    if can_amend and amend_form is None:
        amend_form = _amend_form_for(summary["review"])
    if can_review and review_form is None:
        # Nothing chosen: the doctor grades each eye from the photographs, not by accepting the model's grades.
        review_form = ReviewForm()
    can_void = not voided and services.void_refusal(user=request.user, examination=examination) is None
    referral = selectors.examination_referral(examination)
    return {
        **summary,
        **referral,
        "referral_close_form": (
            ReferralCloseForm(initial={"through": examination.pk, "back": "examination"})
            if doctor and referral["referral_open"]
            else None
        ),
        "patient": examination.patient,
        "finished": examination.status in (Status.DONE, Status.FAILED),
        # The printed report's "printed" time (_report_header.html), in the portal's local time.
        "printed_at": timezone.localtime(),
        "waiting": waiting.grading_wait(examination),
        "review_form": review_form if can_review else None,
        "void_form": (void_form or VoidForm()) if can_void else None,
        "amend_form": amend_form if can_amend else None,
    }


def _amend_form_for(review: Review) -> AmendReviewForm:
    # Starts at the signed-off values: the doctor changes what was wrong and says why.
    initial = {"right_grade": review.right_grade, "left_grade": review.left_grade, "notes": review.notes}
    return AmendReviewForm(initial=initial | {"revisions_seen": len(review.revisions.all())})


@login_required
@require_GET
def examination_status(request: HttpRequest, examination_id: int) -> JsonResponse:
    # Polled every second or so by the result page: not audited (the page that shows the data is),
    # and it returns no patient data, only the examination's progress.
    examination = selectors.examination_get(user=request.user, examination_id=examination_id)
    response = JsonResponse(selectors.examination_status(examination))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def eye_image(request: HttpRequest, examination_id: int, side: str) -> FileResponse:
    return files.eye_image_response(request, examination_id, side, {})


@login_required
@require_GET
def heatmap(request: HttpRequest, examination_id: int, side: str) -> FileResponse:
    return files.heatmap_response(request, examination_id, side, {})


@login_required
@require_GET
def worklist(request: HttpRequest) -> HttpResponse:
    doctor_membership_for(request.user, refusal="The worklist is for doctors.")
    page = Paginator(selectors.worklist(user=request.user), 25).get_page(request.GET.get("page"))
    rows = [selectors.examination_summary(examination) for examination in page]
    record_event(action="worklist.view", request=request, detail={"page": page.number, "count": len(rows)})
    return render(request, "screening/worklist.html", {"page": page, "rows": rows})


@login_required
@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    """The clinic's screening figures by month and the model's agreement with its doctors' reviews."""
    membership = doctor_membership_for(request.user, refusal="The statistics are for doctors.")
    from .statistics import clinic_statistics

    figures = clinic_statistics(clinic_id=membership.clinic_id)
    record_event(action="statistics.view", request=request, detail={"since": figures["since"].date().isoformat()})
    return render(request, "screening/statistics.html", figures)


def _post_else_back_to_examination(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """An examination's POST-only action. A GET, which is what the login page sends to its "next" after a
    session ended under a form (sign-off, amendment, void), goes back to the examination instead of a
    blank 405; other methods are refused."""

    @wraps(view)
    def checked(request: HttpRequest, examination_id: int) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            return redirect("screening:detail", examination_id=examination_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return view(request, examination_id)

    return checked


@login_required
@_post_else_back_to_examination
def review_create(request: AuthenticatedHttpRequest, examination_id: int) -> HttpResponse:
    examination = selectors.examination_get(user=request.user, examination_id=examination_id)
    doctor_membership_for(request.user, refusal="Only doctors review examinations.")
    if examination.voided_at is not None:
        # Said before the grades are read: whatever they are, this examination is not reviewed.
        messages.error(request, reviews.VOIDED_NO_REVIEW)
        return redirect("screening:detail", examination_id=examination.pk)
    form = ReviewForm(request.POST)
    # "Sign off and next": the worklist's order as it stood, read before this examination leaves it.
    then_next = "sign_off_next" in request.POST  # the button's name: sent only when it was the one pressed
    order = selectors.worklist_order(user=request.user) if then_next else []
    if form.is_valid():
        try:
            # The service records review.create in the sign-off's own transaction.
            reviews.review_create(user=request.user, examination=examination, **form.cleaned_data, request=request)
        except ValidationError as error:
            add_errors(form, error)
        else:
            if then_next:
                return _next_in_worklist(request, order, examination.pk)
            messages.success(request, "Review signed off.")
            return redirect("screening:detail", examination_id=examination.pk)
    return _refused(request, examination_id, "review_form", form, "This examination cannot be reviewed.")


def _next_in_worklist(request: AuthenticatedHttpRequest, order: list[int], signed_off: int) -> HttpResponse:
    """After "Sign off and next": the examination that followed the signed-off one on the worklist, or back
    to the worklist, saying so, when nothing is left to review."""
    following = selectors.worklist_next(user=request.user, order=order, after=signed_off)
    if following is None:
        messages.success(request, "Review signed off. Nothing else is waiting for review.")
        return redirect("screening:worklist")
    messages.success(request, "Review signed off. This is the next examination on the worklist.")
    return redirect(reverse("screening:detail", kwargs={"examination_id": following}) + "#review")


@login_required
@_post_else_back_to_examination
def examination_void(request: AuthenticatedHttpRequest, examination_id: int) -> HttpResponse:
    """Mark the examination "entered in error" (the service audits it); the record itself is kept."""
    examination = selectors.examination_get(user=request.user, examination_id=examination_id)
    # Checked before the reason: staff learn that a signed-off examination is a doctor's to void.
    refusal = services.void_refusal(user=request.user, examination=examination)
    if refusal is not None:
        raise PermissionDenied(refusal)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            services.examination_void(
                user=request.user, examination=examination, reason=form.cleaned_data["reason"], request=request
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, "Marked as entered in error. The record is kept and no longer counts.")
            return redirect("screening:detail", examination_id=examination.pk)
    return _refused(request, examination_id, "void_form", form, "This examination can no longer be marked in error.")


@login_required
@_post_else_back_to_examination
def review_amend(request: AuthenticatedHttpRequest, examination_id: int) -> HttpResponse:
    """Replace a signed-off review's grades and notes, with a reason; the service keeps the earlier version
    and audits it."""
    examination = selectors.examination_get(user=request.user, examination_id=examination_id)
    doctor_membership_for(request.user, refusal="Only doctors amend reviews.")
    refusal = _not_amendable(examination)
    if refusal is not None:
        # Said before the fields are read: whatever they hold, there is no review here to amend.
        messages.error(request, refusal)
        return redirect("screening:detail", examination_id=examination.pk)
    form = AmendReviewForm(request.POST)
    if form.is_valid():
        try:
            reviews.review_amend(user=request.user, examination=examination, **form.cleaned_data, request=request)
        except reviews.StaleAmendment as error:
            # The form holds values against a version that is gone: show the current one, not the form.
            messages.error(request, " ".join(error.messages))
            return redirect("screening:detail", examination_id=examination.pk)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, "Review amended. The earlier version is kept below it.")
            return redirect("screening:detail", examination_id=examination.pk)
    return _refused(request, examination_id, "amend_form", form, "This review cannot be amended.")


def _refused(request: HttpRequest, examination_id: int, name: str, form: Form, fallback: str) -> HttpResponse:
    """The result page again with a refused form's errors beside its fields (400).

    The examination is read afresh: a colleague may have signed it off, amended or voided it since the page
    was loaded. When the page no longer offers that form, the refusal is said above the page instead.
    """
    examination = selectors.examination_get(user=request.user, examination_id=examination_id)
    context = _detail_context(request, examination, **{name: form})
    if context[name] is None:
        messages.error(request, " ".join(_messages(form)) or fallback)
        return redirect("screening:detail", examination_id=examination.pk)
    # The whole result page again: a read of the examination, audited as the page itself is.
    detail = {"form": name.removesuffix("_form"), "refused": True}
    record_event(action="examination.view", request=request, obj=examination, detail=detail)
    return render(request, "screening/result.html", context, status=400)


def _not_amendable(examination: Examination) -> str | None:
    """Why the examination's review cannot be amended, as the service words it; None when it can."""
    if examination.voided_at is not None:
        return reviews.VOIDED_NO_AMENDMENT
    if selectors.review_of(examination) is None:
        return reviews.NOT_REVIEWED_YET
    return None


def _messages(form: Form) -> list[str]:
    return [str(message) for errors in form.errors.values() for message in errors]


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def referral_close(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    """Close the patient's open referral with an outcome (the service checks and audits it); back to the
    page the form was on. A GET (the login page's "next" after a session ended) goes to the patient page."""
    patient = patient_get(user=request.user, patient_id=patient_id)
    if request.method != "POST":
        return redirect("patients:detail", patient_id=patient.pk)
    doctor_membership_for(request.user, refusal=closures.ONLY_DOCTORS)
    form = ReferralCloseForm(request.POST)
    if not form.is_valid():
        # Only a page tampered with or garbled on the way sends no examination: nothing to close.
        messages.error(request, "This page could not be read back: reload it and close the referral again.")
        return redirect("patients:detail", patient_id=patient.pk)
    through = form.cleaned_data["through"]
    try:
        closures.referral_close(
            user=request.user, patient=patient, through=through, outcome=form.cleaned_data["outcome"], request=request
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Referral closed. The recall follows the patient's examinations again.")
    if form.cleaned_data["back"] == "examination":
        return redirect("screening:detail", examination_id=through)
    return redirect("patients:detail", patient_id=patient.pk)
