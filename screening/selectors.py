"""Reads of examinations, always scoped to the user's clinic (404 for anything else)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Exists, F, Max, OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from patients.models import Patient
from patients.selectors import clinical_membership_for

from .answers import answer_of
from .charts import confidence_bars, grade_chart
from .forms import ReferralCloseForm
from .models import (
    SIDES,
    Examination,
    ExaminationQuerySet,
    EyeImage,
    Grade,
    Prediction,
    ReferralClosure,
    Review,
    ReviewGrade,
    ReviewRevision,
    Side,
    Status,
)
from .referral import (
    RECOMMENDATION_LABELS,
    REFER,
    RESCREEN,
    ExaminationFacts,
    EyeResult,
    open_referrals,
    recall_recommendation,
    referral_of,
)

# Who reads: any request's user; the selectors answer nothing (or 404) outside a clinic's staff and doctors.
AnyUser = User | AnonymousUser


def with_results(examinations: ExaminationQuerySet) -> ExaminationQuerySet:
    # Three queries however many examinations: the rows (with review, patient and who voided it), the
    # images, and the predictions, newest first so latest_prediction() takes the first; a fourth for the
    # reviews' earlier versions (amendments), oldest first, only when one of the examinations has a review.
    return examinations.select_related("patient", "review", "review__doctor", "voided_by").prefetch_related(
        Prefetch("images", queryset=EyeImage.objects.order_by("side")),
        Prefetch("images__predictions", queryset=Prediction.objects.order_by("-created_at", "-id")),
        Prefetch(
            "review__revisions",
            queryset=ReviewRevision.objects.select_related("doctor", "amended_by").order_by("amended_at", "id"),
        ),
    )


def examination_list(*, user: AnyUser, patient: Patient | None = None) -> ExaminationQuerySet:
    """The examinations of the user's clinic (of one patient if given), newest first, with results."""
    membership = clinical_membership_for(user)
    if membership is None:
        return Examination.objects.none()
    examinations = Examination.objects.filter(patient__clinic_id=membership.clinic_id)
    if patient is not None:
        examinations = examinations.filter(patient=patient)
    return with_results(examinations).order_by("-created_at", "-id")


def examination_get(*, user: AnyUser, examination_id: int) -> Examination:
    """One examination of the user's clinic; 404 otherwise, so other clinics' examinations do not leak."""
    try:
        return examination_list(user=user).get(pk=examination_id)
    except (Examination.DoesNotExist, ValueError, TypeError):
        raise Http404("No such examination") from None


def eye_image_get(*, user: AnyUser, examination_id: int, side: str) -> EyeImage:
    """One photograph of an examination of the user's clinic; 404 otherwise."""
    membership = clinical_membership_for(user)
    if membership is None or side not in Side.values:
        raise Http404("No such photograph")
    eye = (
        EyeImage.objects.select_related("examination__patient")
        .prefetch_related(Prefetch("predictions", queryset=Prediction.objects.order_by("-created_at", "-id")))
        .filter(examination_id=examination_id, side=side, examination__patient__clinic_id=membership.clinic_id)
        .first()
    )
    if eye is None:
        raise Http404("No such photograph")
    return eye


def latest_prediction(eye_image: EyeImage) -> Prediction | None:
    """The newest prediction of a photograph (from prefetched rows when the caller prefetched them)."""
    predictions = list(eye_image.predictions.all())
    if not predictions:
        return None
    return max(predictions, key=lambda p: (p.created_at, p.pk))


def examination_eyes(examination: Examination) -> dict[str, dict[str, Any]]:
    """Per side: the model's grade, label, confidences, the quality verdict and reasons, the prediction,
    and the permission-checked URLs of the photograph and the heatmap."""
    images = {image.side: image for image in examination.images.all()}
    review = review_of(examination)
    eyes: dict[str, dict[str, Any]] = {}
    for side in SIDES:
        image = images.get(side)
        prediction = latest_prediction(image) if image is not None else None
        kwargs = {"examination_id": examination.pk, "side": side}
        reviewed = getattr(review, f"{side}_grade", None) if review is not None else None
        eyes[side] = {
            "side": side,
            "grade": prediction.predicted_class if prediction else None,
            "label": prediction.get_predicted_class_display() if prediction else None,
            "confidences": prediction.confidences if prediction else None,
            "bars": confidence_bars(prediction.confidences) if prediction else None,
            "score": prediction.score if prediction else None,
            "graded_with_other_eye": prediction.graded_with_other_eye if prediction else None,
            "alone": _alone(prediction),
            "gradable": image.gradable if image else None,
            "quality_reasons": list((image.quality or {}).get("reasons", [])) if image else [],
            "prediction": prediction,
            "image_url": reverse("screening:eye_image", kwargs=kwargs) if image else None,
            "heatmap_url": reverse("screening:heatmap", kwargs=kwargs) if prediction and prediction.heatmap else None,
            "reviewed_grade": reviewed,
            "reviewed_label": ReviewGrade(reviewed).label if reviewed is not None else None,
        }
    return eyes


def review_of(examination: Examination) -> Review | None:
    try:
        return examination.review
    except Examination.review.RelatedObjectDoesNotExist:
        return None


def revisions_of(review: Review | None) -> list[ReviewRevision]:
    """A review's earlier versions, oldest first (prefetched by with_results); none for no review."""
    return list(review.revisions.all()) if review is not None else []


def pair_warning_of(examination: Examination) -> str | None:
    """The upload's warning that both photographs are one (or mirrored), if it raised one."""
    for image in examination.images.all():
        warning = (image.quality or {}).get("pair_warning")
        if warning:
            return str(warning)
    return None


def _alone(prediction: Prediction | None) -> dict[str, Any] | None:
    """What the eye's photograph alone was given, where the eyes were graded together (else None)."""
    if prediction is None or not prediction.graded_with_other_eye or prediction.single_eye_class is None:
        return None
    grade = prediction.single_eye_class
    return {
        "grade": grade,
        "label": Grade(grade).label,
        "score": prediction.seed_score,
        "changed": grade != prediction.predicted_class,
    }


def model_version_of(examination: Examination) -> str | None:
    for side in examination_eyes(examination).values():
        prediction: Prediction | None = side["prediction"]
        if prediction is not None:
            return prediction.model_version
    return None


def examination_summary(examination: Examination) -> dict[str, Any]:
    """Everything the result page and the history show of one examination, from prefetched rows."""
    facts = facts_of(examination)
    referral = referral_of(facts)
    review = review_of(examination)
    # Once a doctor signed off, their grades decide what happens to the patient (the model's stay shown).
    doctors = recall_recommendation(facts) if review is not None else None
    return {
        # The one answer (answers.py): the doctor's once signed off, the model's suggestion below it.
        "answer": answer_of(facts),
        "doctor_recommendation": doctors,
        "examination": examination,
        "eyes": examination_eyes(examination),
        "referral": referral,
        "recommendation_label": RECOMMENDATION_LABELS.get(referral["recommendation"] or ""),
        "doctor_recommendation_label": RECOMMENDATION_LABELS.get(doctors or ""),
        "pair_warning": pair_warning_of(examination),
        "model_version": model_version_of(examination),
        # The current (possibly amended) review; what amendments replaced, oldest first.
        "review": review,
        "revisions": revisions_of(review),
    }


def examination_status(examination: Examination) -> dict[str, Any]:
    """The small status document the result page polls."""
    return {
        "id": examination.pk,
        "status": examination.status,
        "finished": examination.status in (Status.DONE, Status.FAILED),
        "error": examination.error or None,
    }


# --- the patient list ---------------------------------------------------------------------------------


def latest_examinations(*, patients: list[Patient]) -> dict[int, dict[str, Any]]:
    """Each listed patient's newest examination, summarised (patient id -> summary; none if never examined).

    An examination entered in error (voided) is skipped: the one before it is the newest, or "never".

    For the patient list: who was screened when, and with what outcome. Three queries however many
    patients: the rows (each patient's newest examination found by a subquery), their images, and
    their predictions.
    """
    if not patients:
        return {}
    listed = Patient.objects.filter(pk__in=[p.pk for p in patients])
    examinations = with_results(Examination.objects.filter(pk__in=_newest_examination_ids(listed)))
    return {examination.patient_id: examination_summary(examination) for examination in examinations}


def _newest_examination_ids(patients: QuerySet[Patient], *, screened: bool = False) -> QuerySet[Any]:
    """A subquery: each patient's newest examination id (NULL for a patient never examined), skipping those
    entered in error (voided): they are not the patient's examinations.

    screened: skip failed examinations, where grading never finished: the patient was not screened.
    """
    examinations = Examination.objects.counted().filter(patient=OuterRef("pk"))
    if screened:
        examinations = examinations.exclude(status=Status.FAILED)
    newest = examinations.order_by("-created_at", "-id").values("pk")[:1]
    return patients.annotate(newest=Subquery(newest)).values("newest")


def due_for_rescreening(*, patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The patients whose newest examination said "rescreen in 12 months", taken RESCREEN_INTERVAL_DAYS ago or more.

    Where a doctor reviewed that examination, the doctor's grades decide (a correction to Mild means
    referral, not rescreening); otherwise the model's, as on the result page. Patients referred, asked
    for a retake, or examined since are not due. A failed examination (grading never finished) does not
    count as a screening: the patient stays due. An examination entered in error does not count at all:
    the recall reads the one before it.
    """
    cutoff = timezone.now() - timedelta(days=settings.RESCREEN_INTERVAL_DAYS)
    candidates = Examination.objects.filter(
        pk__in=_newest_examination_ids(patients, screened=True), created_at__lte=cutoff, status=Status.DONE
    )
    due = [facts.patient_id for facts in examination_facts(candidates) if recall_recommendation(facts) == RESCREEN]
    # Nor is a patient with an open referral, whatever their newest examination said (referral.open_referrals).
    referred = open_referrals_by_patient(patients=patients.filter(pk__in=due))
    return patients.filter(pk__in=[patient_id for patient_id in due if patient_id not in referred])


def open_referrals_by_patient(*, patients: QuerySet[Patient]) -> dict[int, list[ExaminationFacts]]:
    """Each patient's examinations whose referral is open (referral.open_referrals), oldest first; patients
    with none are left out. Two queries: the closures, and the facts of the patients' examinations."""
    closures = (
        ReferralClosure.objects.filter(patient__in=patients)
        .values("patient_id")
        .annotate(through=Max("examination__created_at"))
        .values_list("patient_id", "through")
    )
    closed_through: dict[int, datetime] = dict(closures)
    histories: dict[int, list[ExaminationFacts]] = {}
    for facts in examination_facts(Examination.objects.filter(patient__in=patients)):
        histories.setdefault(facts.patient_id, []).append(facts)
    referred = {pid: open_referrals(history, closed_through.get(pid)) for pid, history in histories.items()}
    return {patient_id: facts for patient_id, facts in referred.items() if facts}


_FACT_FIELDS = (
    *("examination_id", "examination__patient_id", "examination__created_at", "examination__status"),
    *("side", "gradable", "grade", "examination__review__right_grade", "examination__review__left_grade"),
)


def examination_facts(examinations: QuerySet[Examination]) -> list[ExaminationFacts]:
    """The examinations' facts, oldest first, in one query of two plain rows per examination.

    Examinations entered in error (voided) are left out whatever the caller passed: every reader of
    these facts (recall, statistics) makes a clinical count, and a voided examination is in none.

    Model instances with their results prefetched were about 13 times slower for a year of a busy
    clinic's examinations (bench/bench_statistics.py).
    """
    latest_grade = (
        Prediction.objects.filter(eye_image=OuterRef("pk")).order_by("-created_at", "-id").values("predicted_class")[:1]
    )
    photographs = (
        # The void filter goes inside the IN subquery; as a condition on the joined examination row it made
        # the statistics of 3000 examinations about 1.5 times slower (bench/bench_statistics.py).
        EyeImage.objects.filter(examination__in=examinations.filter(voided_at__isnull=True))
        .annotate(grade=Subquery(latest_grade))
        .values_list(*_FACT_FIELDS)
    )
    facts: dict[int, ExaminationFacts] = {}
    for exam_id, patient_id, created_at, status, side, gradable, grade, right, left in photographs:
        row = facts.setdefault(exam_id, ExaminationFacts(patient_id, created_at, status, examination_id=exam_id))
        row.eyes[side] = EyeResult(grade=grade, score=None, gradable=gradable)
        if right is not None:
            row.review = {Side.RIGHT: right, Side.LEFT: left}
    return sorted(facts.values(), key=lambda row: row.created_at)


def facts_of(examination: Examination) -> ExaminationFacts:
    """The facts of one examination from its prefetched rows (no query), as examination_facts reads them,
    plus each eye's score (the confidence of its predicted class) for the seed rule."""
    facts = ExaminationFacts(
        examination.patient_id, examination.created_at, examination.status, examination_id=examination.pk
    )
    for image in examination.images.all():
        prediction = latest_prediction(image)
        facts.eyes[image.side] = EyeResult(
            grade=prediction.predicted_class if prediction is not None else None,
            score=prediction.score if prediction is not None else None,
            gradable=image.gradable,
        )
    review = review_of(examination)
    if review is not None:
        facts.review = {Side.RIGHT: review.right_grade, Side.LEFT: review.left_grade}
    return facts


def referral_for(examination: Examination) -> dict[str, Any]:
    """{"warning", "message", "recommendation"} for an examination, from its latest predictions.

    Reads the examination's images and predictions; prefetch them (with_results) to avoid queries.
    """
    return referral_of(facts_of(examination))


# --- the patient page ---------------------------------------------------------------------------------


def patient_history_context(*, patient: Patient, user: AnyUser | None = None) -> dict[str, Any]:
    """Context for the patient page: history (newest first) with both eyes' grades, and a chart.

    The caller has already scoped the patient to the user's clinic. A constant number of queries
    whatever the number of examinations.
    """
    examinations = list(with_results(Examination.objects.filter(patient=patient)).order_by("-created_at", "-id"))
    # The history lists every examination, those entered in error too (marked): the record stays honest.
    # The due date and the chart read only those that count.
    history = [examination_summary(examination) for examination in examinations]
    screened = [e for e in examinations if e.status != Status.FAILED and e.voided_at is None]
    referral = referral_context(patient=patient, examinations=examinations, user=user)
    # A patient with an open referral is never "due in 12 months": the referral is their next step.
    due = rescreening_due(screened[0]) if screened and referral["referral_open_since"] is None else None
    return {
        "history_template": "screening/_history.html",
        "upload_url": reverse("screening:upload", kwargs={"patient_id": patient.pk}),
        "examinations": history,
        "chart": grade_chart([item for item in history if item["examination"].voided_at is None]),
        "rescreening_due": due,
        "rescreening_overdue": due is not None and due <= timezone.now(),
        **referral,
    }


def referral_context(*, patient: Patient, examinations: list[Examination], user: AnyUser | None) -> dict[str, Any]:
    """The patient's referral for their page: open since when (the oldest open referring examination) and
    through which examination a closure would close it, the latest closure, and whether the user (a doctor
    of the clinic) may close it. `examinations` are all the patient's, with results prefetched."""
    closures = list(ReferralClosure.objects.filter(patient=patient).select_related("closed_by", "examination"))
    through = max((closure.examination.created_at for closure in closures), default=None)
    history = [facts_of(examination) for examination in examinations if examination.voided_at is None]
    referred = open_referrals(history, through)
    membership = clinical_membership_for(user) if user is not None else None
    can_close = bool(referred and membership and membership.can_review)
    form = ReferralCloseForm(initial={"through": referred[-1].examination_id, "back": "patient"}) if can_close else None
    return {
        "referral_open_since": referred[0].created_at if referred else None,
        "referral_closure": closures[0] if closures else None,
        "referral_close_form": form,
    }


def examination_referral(examination: Examination) -> dict[str, Any]:
    """This examination's referral for its result page: whether it is open (it answered "refer" and no
    closure covers it), and the closure that closed it, if one did. Results prefetched (with_results)."""
    if examination.voided_at is not None or recall_recommendation(facts_of(examination)) != REFER:
        return {"referral_open": False, "referral_closed_by": None}
    covering = ReferralClosure.objects.filter(
        patient_id=examination.patient_id, examination__created_at__gte=examination.created_at
    )
    closure = covering.select_related("closed_by").order_by("closed_at", "id").first()
    return {"referral_open": closure is None, "referral_closed_by": closure}


def rescreening_due(newest: Examination) -> datetime | None:
    """When the patient is next due, if their newest examination recommended rescreening in 12 months.

    The examination's results must be prefetched (with_results). One entered in error sets no date.
    """
    if newest.status != Status.DONE or newest.voided_at is not None:
        return None
    if recall_recommendation(facts_of(newest)) != RESCREEN:
        return None
    return newest.created_at + timedelta(days=settings.RESCREEN_INTERVAL_DAYS)


# --- the doctors' worklist ---------------------------------------------------------------------------


def worklist(*, user: AnyUser) -> QuerySet[Examination]:
    """Graded examinations of the user's clinic not yet reviewed nor entered in error, the most urgent first:
    referable first, then by the model's worst grade of a gradable eye (severe or PDR before mild-moderate),
    then the longest waiting (graded earliest) first.

    Referable as the recommendation says it: an eye Mild or worse, and no ungradable photograph (that
    examination's recommendation is "Retake", whatever the model made of the photograph it could not read;
    it was marked "Referable" and put first). For the same reason the worst grade reads gradable eyes only."""
    referable = Prediction.objects.filter(eye_image__examination=OuterRef("pk"), predicted_class__gte=Grade.MILD)
    ungradable = EyeImage.objects.filter(examination=OuterRef("pk"), gradable=False)
    # Each gradable eye's latest prediction (a regrading adds one); the worst of them.
    latest = Prediction.objects.filter(eye_image=OuterRef("eye_image")).order_by("-created_at", "-id").values("pk")[:1]
    worst = (
        Prediction.objects.filter(eye_image__examination=OuterRef("pk"), eye_image__gradable=True)
        .filter(pk=Subquery(latest))
        .order_by("-predicted_class")
        .values("predicted_class")[:1]
    )
    return (
        examination_list(user=user)
        .counted()
        .filter(status=Status.DONE, review__isnull=True)
        .annotate(referable=Exists(referable) & ~Exists(ungradable), worst_grade=Subquery(worst))
        .order_by("-referable", F("worst_grade").desc(nulls_last=True), "completed_at", "id")
    )


def worklist_order(*, user: AnyUser) -> list[int]:
    """The ids on the user's worklist, in its order (one query of ids)."""
    return list(worklist(user=user).values_list("pk", flat=True))


def worklist_next(*, user: AnyUser, order: list[int], after: int) -> int | None:
    """The examination to open after `after` was signed off from a worklist that stood in `order`.

    The first one still waiting that came after it in that order; else (the doctor started below the top)
    the first one still waiting from the top, which also picks up examinations graded since. None when
    nothing is left to review."""
    waiting = worklist_order(user=user)
    still = set(waiting)
    later = order[order.index(after) + 1 :] if after in order else []
    return next((pk for pk in later if pk in still), waiting[0] if waiting else None)
