"""Pages: who sees what (the outsider always gets 404), auditing, the worklist, review and history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from patients.selectors import patient_get
from screening import reviews, selectors, services
from screening.charts import whole_percentages
from screening.models import Examination, EyeImage, Prediction, Review, ReviewGrade, ReviewRevision, Status
from screening.referral import SEED_MESSAGE
from screening.tasks import grade_examination
from tests.examination_data import graded_examination, prediction_for
from tests.factories import PatientFactory

from .conftest import LEFT, RIGHT, retake, upload

pytestmark = pytest.mark.django_db


def _examination(owner, patient) -> Examination:
    return services.examination_create(user=owner, patient=patient, right_eye=retake(RIGHT), left_eye=retake(LEFT))


def _graded(examination: Examination, right: tuple[int, float], left: tuple[int, float]) -> Examination:
    """Store predictions as the worker would (grade, confidence of that grade) and mark it done."""
    for eye in examination.images.all():
        grade, score = right if eye.side == "right" else left
        prediction_for(eye, grade, score, model_version="v-test").save()
    Examination.objects.filter(pk=examination.pk).update(status=Status.DONE, completed_at=timezone.now())
    examination.refresh_from_db()
    return examination


def _urls(examination: Examination) -> list[str]:
    kwargs = {"examination_id": examination.pk}
    eye = {**kwargs, "side": "right"}
    return [
        reverse("screening:detail", kwargs=kwargs),
        reverse("screening:status", kwargs=kwargs),
        reverse("screening:eye_image", kwargs=eye),
        reverse("screening:heatmap", kwargs=eye),
        reverse("screening:upload", kwargs={"patient_id": examination.patient_id}),
    ]


def test_the_outsider_gets_404_everywhere(client, owner, outsider, patient, grading_checkpoint) -> None:
    examination = _examination(owner, patient)
    grade_examination.apply(args=[examination.pk])
    client.force_login(outsider)
    for url in _urls(examination):
        assert client.get(url).status_code == 404, url
    review = reverse("screening:review", kwargs={"examination_id": examination.pk})
    assert client.post(review, {"right_grade": 0, "left_grade": 0}).status_code == 404
    assert not Review.objects.exists()


def test_a_clinic_admin_sees_no_photographs(client, owner, clinic_admin, patient) -> None:
    examination = _examination(owner, patient)
    client.force_login(clinic_admin)
    for url in _urls(examination):
        assert client.get(url).status_code == 404, url


def test_anonymous_visitors_are_sent_to_log_in(client, owner, patient) -> None:
    for url in _urls(_examination(owner, patient)):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_photographs_and_heatmaps_are_served_to_the_clinic_and_audited(
    client, owner, colleague, patient, grading_checkpoint
) -> None:
    examination = services.examination_create(
        user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=upload(LEFT)
    )
    grade_examination.apply(args=[examination.pk])
    client.force_login(colleague)
    for side in ("right", "left"):
        kwargs = {"examination_id": examination.pk, "side": side}
        image = client.get(reverse("screening:eye_image", kwargs=kwargs))
        assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
        assert b"".join(image.streaming_content) == (RIGHT if side == "right" else LEFT).read_bytes()
        heatmap = client.get(reverse("screening:heatmap", kwargs=kwargs))
        assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/jpeg"
        assert "private" in heatmap["Cache-Control"]
    actions = list(AuditEvent.objects.filter(patient=patient).values_list("action", flat=True))
    assert actions.count("eye_image.view") == 2 and actions.count("heatmap.view") == 2
    assert (
        client.get(
            reverse("screening:eye_image", kwargs={"examination_id": examination.pk, "side": "middle"})
        ).status_code
        == 404
    )


def test_media_files_are_not_served_publicly(client, owner, patient) -> None:
    examination = _examination(owner, patient)
    client.force_login(owner)
    name = examination.images.get(side="right").file.name
    assert client.get(f"/media/{name}").status_code == 404


def test_the_result_page_shows_grades_confidences_and_the_seed_warning(client, owner, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(1, 0.62), left=(0, 0.58))
    client.force_login(owner)
    response = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk}))
    html = response.content.decode()
    assert response.status_code == 200
    assert SEED_MESSAGE in html
    assert "Refer to an ophthalmologist" in html
    assert html.count("<meter") == 6
    assert "v-test" in html
    assert AuditEvent.objects.filter(action="examination.view", object_id=str(examination.pk)).exists()


def test_no_seed_warning_when_the_scores_differ_enough(client, owner, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.95), left=(0, 0.7))
    client.force_login(owner)
    html = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk})).content.decode()
    assert SEED_MESSAGE not in html
    assert "No referable DR: rescreen in 12 months" in html


def test_an_ungradable_photograph_shows_its_reasons_and_retake(client, owner, patient) -> None:
    from PIL import Image, ImageFilter

    from .conftest import image_upload

    # PNG: JPEG's block noise on a photograph this small (256 px) would read as fine detail.
    blurred = image_upload(Image.open(LEFT).filter(ImageFilter.GaussianBlur(4)), "left.png", fmt="PNG")
    examination = services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=blurred)
    client.force_login(owner)
    html = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk})).content.decode()
    assert "Ungradable photograph: please retake it." in html
    assert "Out of focus" in html
    assert "Photograph not gradable: retake" in html  # at once, before the model has graded anything
    assert "Left eye photograph failed the quality check" in html


def test_the_status_endpoint_reports_progress(client, owner, patient) -> None:
    examination = _examination(owner, patient)
    client.force_login(owner)
    url = reverse("screening:status", kwargs={"examination_id": examination.pk})
    assert client.get(url).json() == {"id": examination.pk, "status": "queued", "finished": False, "error": None}
    _graded(examination, right=(0, 0.9), left=(0, 0.9))
    assert client.get(url).json()["finished"] is True


def test_the_worklist_lists_unreviewed_graded_examinations_referable_first(client, owner, colleague, patient) -> None:
    healthy = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.9))
    referable = _graded(_examination(owner, patient), right=(0, 0.9), left=(2, 0.8))
    _examination(owner, patient)  # still queued: not on the worklist
    reviewed = _graded(_examination(owner, patient), right=(1, 0.9), left=(1, 0.9))
    reviews.review_create(user=colleague, examination=reviewed, right_grade=1, left_grade=1)
    client.force_login(colleague)
    response = client.get(reverse("screening:worklist"))
    assert response.status_code == 200
    assert [row["examination"].pk for row in response.context["rows"]] == [referable.pk, healthy.pk]
    assert 'href="/screening/worklist/"' in response.content.decode()  # the doctor's nav link
    # Both scores 0.9: the seed rule's note, on the worklist as on the history, neutral (no warning colour).
    note = '<span class="badge">model note</span></summary><span class="seed-note-text">We hope'
    assert response.content.decode().count(note) == 1
    # Each row leads with its answer and the reason.
    html = response.content.decode()
    assert 'data-answer="refer" data-source="model"' in html and "Left eye: Severe NPDR or PDR (ICDR 3-4)" in html
    assert 'data-answer="rescreen_12_months"' in html and "Both eyes: No DR (ICDR 0)" in html


def test_staff_have_no_worklist_and_cannot_review(client, owner, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.9))
    client.force_login(owner)
    assert client.get(reverse("screening:worklist")).status_code == 403
    detail = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk}))
    assert detail.context["review_form"] is None
    assert 'href="/screening/worklist/"' not in detail.content.decode()
    review = reverse("screening:review", kwargs={"examination_id": examination.pk})
    assert client.post(review, {"right_grade": 0, "left_grade": 0}).status_code == 403
    assert client.post(review, {"right_grade": "x"}).status_code == 403
    assert not Review.objects.exists()


def test_a_doctor_corrects_a_grade_and_both_grades_are_shown(client, owner, colleague, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(1, 0.7))
    client.force_login(colleague)
    url = reverse("screening:detail", kwargs={"examination_id": examination.pk})
    # Nothing pre-selected: the doctor grades each eye, not the model's grades by one click.
    assert client.get(url).context["review_form"].initial == {}
    review = reverse("screening:review", kwargs={"examination_id": examination.pk})
    response = client.post(review, {"right_grade": "0", "left_grade": "2", "notes": "new vessels at the disc"})
    assert response.status_code == 302
    stored = Review.objects.get()
    assert (stored.right_grade, stored.left_grade, stored.doctor) == (0, 2, colleague)
    # The model's grade is kept: the page shows both.
    assert Prediction.objects.get(eye_image__side="left").predicted_class == 1
    html = client.get(url).content.decode()
    assert 'Model: <strong class="label" data-label>Mild-moderate NPDR (ICDR 1-2)</strong>' in html
    assert "Doctor: <strong>Severe NPDR or PDR (ICDR 3-4)</strong>" in html


def test_a_review_with_a_missing_grade_is_refused_beside_the_field(client, owner, colleague, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(1, 0.7))
    client.force_login(colleague)
    review = reverse("screening:review", kwargs={"examination_id": examination.pk})
    response = client.post(review, {"right_grade": "0", "left_grade": "3"})
    assert response.status_code == 400
    assert "left_grade" in response.context["review_form"].errors
    assert not Review.objects.exists()


def _history_queries(owner, patient) -> int:
    from screening.selectors import patient_history_context

    scoped = patient_get(user=owner, patient_id=patient.pk)
    with CaptureQueriesContext(connection) as queries:
        context = patient_history_context(patient=scoped)
        from django.template.loader import render_to_string

        render_to_string("screening/_history.html", context)
    return len(queries)


def test_the_patient_page_runs_the_same_queries_for_1_and_20_examinations(owner, colleague, patient) -> None:
    first = _graded(_examination(owner, patient), right=(0, 0.9), left=(1, 0.7))
    reviews.review_create(user=colleague, examination=first, right_grade=0, left_grade=1)
    one = _history_queries(owner, patient)
    for index in range(19):
        examination = _examination(owner, patient)
        if index % 2:
            _graded(examination, right=(index % 3, 0.8), left=(0, 0.8))
    assert _history_queries(owner, patient) == one


def test_the_patient_page_shows_the_history_newest_first_with_a_chart(client, owner, colleague, patient) -> None:
    older = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.9))
    newer = _graded(_examination(owner, patient), right=(1, 0.9), left=(2, 0.9))
    reviews.review_create(user=colleague, examination=newer, right_grade=1, left_grade=1)
    client.force_login(owner)
    response = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk}))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index(f'data-examination="{newer.pk}"') < html.index(f'data-examination="{older.pk}"')
    assert 'class="grade-chart"' in html and html.count('class="ring') == 2
    assert "Doctor: Mild" in html
    assert reverse("screening:upload", kwargs={"patient_id": patient.pk}) in html


def test_the_chart_keeps_both_eyes_visible_when_their_grades_are_equal(owner, patient) -> None:
    from screening.charts import grade_chart
    from screening.selectors import patient_history_context

    _graded(_examination(owner, patient), right=(1, 0.9), left=(1, 0.8))
    chart = grade_chart(patient_history_context(patient=patient)["examinations"])
    right, left = chart["series"]["right"]["points"][0], chart["series"]["left"]["points"][0]
    mild = next(level["y"] for level in chart["levels"] if level["label"] == "Mild-moderate NPDR (ICDR 1-2)")
    # Same grade, same time: the dots sit on either side of the Mild gridline, not on top of each other.
    assert right["x"] == left["x"]
    assert right["y"] < mild < left["y"]
    assert left["y"] - right["y"] >= 8  # at least a dot's diameter (r=4) apart


def test_the_chart_labels_a_single_day_once(client, owner, patient) -> None:
    morning = timezone.now().replace(year=2026, month=3, day=2, hour=9, minute=0)
    for hours, grades in enumerate([(0, 1), (1, 1)]):
        examination = _graded(_examination(owner, patient), right=(grades[0], 0.9), left=(grades[1], 0.8))
        Examination.objects.filter(pk=examination.pk).update(created_at=morning + timedelta(hours=hours))
    client.force_login(owner)
    html = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).content.decode()
    chart = html[html.index('class="grade-chart"') : html.index("</svg>")]
    assert chart.count(">2026-03-02</text>") == 1


def test_the_patient_list_shows_each_patients_newest_examination_and_its_outcome(
    client, owner, colleague, patient
) -> None:
    never = PatientFactory.create(clinic=patient.clinic, created_by=owner)
    older = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.9))
    newer = _graded(_examination(owner, patient), right=(2, 0.9), left=(0, 0.6))
    Examination.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=400))
    client.force_login(owner)
    html = client.get(reverse("patients:list")).content.decode()
    row = html[html.index(f'data-patient="{patient.pk}"') :].split("</tr>")[0]
    assert reverse("screening:detail", kwargs={"examination_id": newer.pk}) in row
    assert reverse("screening:detail", kwargs={"examination_id": older.pk}) not in row
    assert "Refer to an ophthalmologist" in row
    assert "never" in html[html.index(f'data-patient="{never.pk}"') :].split("</tr>")[0]


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("patients:list")).status_code == 200
    return len(queries)


def test_the_patient_list_runs_the_same_queries_for_1_and_10_examined_patients(client, owner, patient) -> None:
    _graded(_examination(owner, patient), right=(1, 0.9), left=(0, 0.9))
    client.force_login(owner)
    one = _list_queries(client)
    for _ in range(9):
        other = PatientFactory.create(clinic=patient.clinic, created_by=owner)
        _graded(_examination(owner, other), right=(0, 0.9), left=(0, 0.9))
    assert _list_queries(client) == one


def _examined(owner, patient, grades: tuple[int, int], days_ago: int) -> Examination:
    examination = _graded(_examination(owner, patient), right=(grades[0], 0.9), left=(grades[1], 0.7))
    Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return examination


def test_due_for_rescreening_lists_patients_whose_newest_normal_examination_is_a_year_old(
    client, owner, colleague, patient
) -> None:
    clinic = patient.clinic
    due = patient
    _examined(owner, due, (0, 0), days_ago=400)
    referred = PatientFactory.create(clinic=clinic, created_by=owner)
    _examined(owner, referred, (1, 0), days_ago=400)
    recent = PatientFactory.create(clinic=clinic, created_by=owner)
    _examined(owner, recent, (0, 0), days_ago=100)
    seen_since = PatientFactory.create(clinic=clinic, created_by=owner)
    _examined(owner, seen_since, (0, 0), days_ago=800)
    _examined(owner, seen_since, (0, 0), days_ago=30)
    corrected = PatientFactory.create(clinic=clinic, created_by=owner)
    corrected_exam = _examined(owner, corrected, (0, 0), days_ago=400)
    reviews.review_create(user=colleague, examination=corrected_exam, right_grade=1, left_grade=0)
    never = PatientFactory.create(clinic=clinic, created_by=owner)
    client.force_login(owner)
    html = client.get(reverse("patients:list"), {"due": "1"}).content.decode()
    listed = {p.pk for p in (due, referred, recent, seen_since, corrected, never) if f'data-patient="{p.pk}"' in html}
    # The doctor's correction to Mild turns rescreening into referral: that patient is not due.
    assert listed == {due.pk}
    everyone = client.get(reverse("patients:list")).content.decode()
    assert all(f'data-patient="{p.pk}"' in everyone for p in (due, referred, recent, seen_since, corrected, never))


def test_due_for_rescreening_follows_the_interval_setting(client, owner, patient, settings) -> None:
    _examined(owner, patient, (0, 0), days_ago=100)
    client.force_login(owner)
    assert f'data-patient="{patient.pk}"' not in client.get(reverse("patients:list"), {"due": "1"}).content.decode()
    settings.RESCREEN_INTERVAL_DAYS = 90
    assert f'data-patient="{patient.pk}"' in client.get(reverse("patients:list"), {"due": "1"}).content.decode()


def test_the_patient_page_says_when_the_next_screening_is_due(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("patients:detail", kwargs={"patient_id": patient.pk})
    examination = _examined(owner, patient, (0, 0), days_ago=400)
    examination.refresh_from_db()
    due = (examination.created_at + timedelta(days=365)).strftime("%Y-%m-%d")
    html = client.get(url).content.decode()
    assert f"Next screening due {due}" in html and "overdue" in html
    Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - timedelta(days=10))
    assert "overdue" not in client.get(url).content.decode()
    # A referable newest examination means referral, not a rescreening date.
    _examined(owner, patient, (1, 0), days_ago=0)
    assert "Next screening due" not in client.get(url).content.decode()


def test_a_doctors_correction_decides_the_recommendation_shown_beside_the_models(
    client, owner, colleague, patient
) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.7))
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    client.force_login(owner)
    result = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk})).content.decode()
    # The model said rescreen; the doctor's grades say refer: the doctor's is the answer, the model's below it.
    answer = result[result.index('id="answer"') :].split("</section>")[0]
    assert 'data-answer="refer" data-source="doctor"' in answer
    assert "Right eye: Mild-moderate NPDR (ICDR 1-2)" in answer
    assert "Model suggestion: No referable DR: rescreen in 12 months (Both eyes: No DR (ICDR 0))" in answer
    assert result.index('id="answer"') < result.index('id="eye-right"')  # the answer at the top
    expected = "Doctor's decision · model suggestion: No referable DR: rescreen in 12 months"
    for page in (reverse("patients:list"), reverse("patients:detail", kwargs={"patient_id": patient.pk})):
        html = client.get(page).content.decode()
        assert 'data-answer="refer" data-source="doctor"' in html and expected in html


def test_the_seed_note_is_a_neutral_note_below_the_answer_beside_the_confidences(client, owner, patient) -> None:
    client.force_login(owner)
    # Both eyes No DR with scores 0.05 apart: the seed rule fires; its note sits under the eyes, not as an alarm.
    unsure = _graded(_examination(owner, patient), right=(0, 0.90), left=(0, 0.85))
    page = client.get(reverse("screening:detail", kwargs={"examination_id": unsure.pk})).content.decode()
    note = page[page.index('id="seed-note"') :].split("</p>")[0]
    assert SEED_MESSAGE in note and "not a clinical finding" in note
    assert 'role="alert"' not in note and "seed-warning" not in page and "warn" not in note
    assert page.index('id="answer"') < page.index('id="eye-left"') < page.index('id="seed-note"')
    assert page.count(SEED_MESSAGE) == 1
    # Scores 0.2 apart: no note.
    clear = _graded(_examination(owner, patient), right=(0, 0.90), left=(0, 0.70))
    page = client.get(reverse("screening:detail", kwargs={"examination_id": clear.pk})).content.decode()
    assert 'id="seed-note"' not in page and SEED_MESSAGE not in page
    assert 'data-answer="rescreen_12_months"' in page


def test_the_seed_note_is_never_shown_beside_a_retake(client, owner, colleague, patient) -> None:
    # The seed rule fires (scores 0.05 apart) but the left photograph is ungradable: the answer is a retake.
    unreadable = _graded(_examination(owner, patient), right=(2, 0.90), left=(2, 0.85))
    EyeImage.objects.filter(examination=unreadable, side="left").update(gradable=False)
    client.force_login(colleague)
    page = client.get(reverse("screening:detail", kwargs={"examination_id": unreadable.pk})).content.decode()
    assert 'data-answer="retake"' in page and SEED_MESSAGE not in page
    for listing in (reverse("screening:worklist"), reverse("patients:detail", kwargs={"patient_id": patient.pk})):
        html = client.get(listing).content.decode()
        assert 'data-answer="retake"' in html and SEED_MESSAGE not in html
    # ... nor beside a doctor's retake, though the model's own answer would carry it.
    graded = _graded(_examination(owner, patient), right=(0, 0.90), left=(0, 0.88))
    reviews.review_create(user=colleague, examination=graded, right_grade=ReviewGrade.UNGRADABLE, left_grade=0)
    page = client.get(reverse("screening:detail", kwargs={"examination_id": graded.pk})).content.decode()
    assert 'data-answer="retake" data-source="doctor"' in page and SEED_MESSAGE not in page
    # The API keeps the seed rule's fields exactly.
    referral = selectors.referral_for(selectors.examination_get(user=colleague, examination_id=graded.pk))
    assert referral == {"warning": True, "message": SEED_MESSAGE, "recommendation": "rescreen_12_months"}


def test_a_failed_examination_does_not_count_as_a_screening(client, owner, patient) -> None:
    _examined(owner, patient, (0, 0), days_ago=400)
    failed = _examined(owner, patient, (0, 0), days_ago=5)
    Examination.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    client.force_login(owner)
    # Grading never finished last week: the patient is still due, and the patient page says so.
    assert f'data-patient="{patient.pk}"' in client.get(reverse("patients:list"), {"due": "1"}).content.decode()
    page = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).content.decode()
    assert "Next screening due" in page and "overdue" in page


# --- entered in error -----------------------------------------------------------------------------------


def _void_url(examination: Examination) -> str:
    return reverse("screening:void", kwargs={"examination_id": examination.pk})


def _detail_url(examination: Examination) -> str:
    return reverse("screening:detail", kwargs={"examination_id": examination.pk})


def _void(examination: Examination, user, reason: str = "Photographs of another patient.") -> None:
    services.examination_void(user=user, examination=examination, reason=reason)


def test_staff_mark_an_examination_entered_in_error_and_the_result_page_says_so(
    client, owner, colleague, patient
) -> None:
    examination = _graded(_examination(owner, patient), right=(1, 0.9), left=(0, 0.7))
    client.force_login(owner)
    before = client.get(_detail_url(examination))
    assert before.context["void_form"] is not None and _void_url(examination) in before.content.decode()
    response = client.post(_void_url(examination), {"reason": " Photographs of another patient. "})
    assert response.status_code == 302 and response["Location"] == _detail_url(examination)
    examination.refresh_from_db()
    assert (examination.voided_by, examination.void_reason) == (owner, "Photographs of another patient.")
    event = AuditEvent.objects.get(action="examination.void")
    assert (event.actor, event.patient) == (owner, patient) and "reason" not in event.detail
    when = examination.voided_at.strftime("%Y-%m-%d %H:%M")
    client.force_login(colleague)
    page = client.get(_detail_url(examination))
    html = page.content.decode()
    assert f"Entered in error on {when} UTC by owner:</strong>" in html
    assert '<span id="void-reason">Photographs of another patient.</span>' in html
    # Neither a review nor a second void is offered; the grades are still shown.
    assert page.context["review_form"] is None and page.context["void_form"] is None
    assert 'Model: <strong class="label" data-label>Mild-moderate NPDR (ICDR 1-2)</strong>' in html


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_blank_or_overlong_reason_is_shown_beside_the_field_and_nothing_is_saved(
    client, owner, patient, reason
) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.7))
    client.force_login(owner)
    response = client.post(_void_url(examination), {"reason": reason})
    assert response.status_code == 400
    assert "reason" in response.context["void_form"].errors
    assert 'id="void-reason-errors"' in response.content.decode()
    examination.refresh_from_db()
    assert not examination.voided
    assert not AuditEvent.objects.filter(action="examination.void").exists()


def test_voiding_twice_is_refused_with_a_message_and_the_first_void_stands(client, owner, colleague, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.7))
    _void(examination, owner, reason="Wrong photographs.")
    client.force_login(colleague)
    response = client.post(_void_url(examination), {"reason": "Wrong patient."}, follow=True)
    assert response.status_code == 200
    assert "already been marked as entered in error" in response.content.decode()
    examination.refresh_from_db()
    assert (examination.voided_by, examination.void_reason) == (owner, "Wrong photographs.")
    assert AuditEvent.objects.filter(action="examination.void").count() == 1


def test_staff_cannot_void_a_signed_off_examination_but_a_doctor_can(client, owner, colleague, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.7))
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    client.force_login(owner)
    assert client.get(_detail_url(examination)).context["void_form"] is None
    assert client.post(_void_url(examination), {"reason": "Wrong patient."}).status_code == 403
    assert client.post(_void_url(examination), {"reason": ""}).status_code == 403  # the role first, then the reason
    examination.refresh_from_db()
    assert not examination.voided
    client.force_login(colleague)
    assert client.get(_detail_url(examination)).context["void_form"] is not None
    assert client.post(_void_url(examination), {"reason": "Wrong patient."}).status_code == 302
    examination.refresh_from_db()
    assert examination.voided_by == colleague


def test_another_clinics_examination_answers_404_to_a_void(client, owner, outsider, clinic_admin, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.7))
    for user in (outsider, clinic_admin):
        client.force_login(user)
        assert client.post(_void_url(examination), {"reason": "Wrong patient."}).status_code == 404
    examination.refresh_from_db()
    assert not examination.voided


def test_a_review_of_a_voided_examination_is_refused_with_a_message(client, owner, colleague, patient) -> None:
    examination = _graded(_examination(owner, patient), right=(0, 0.9), left=(1, 0.7))
    _void(examination, owner)
    client.force_login(colleague)
    review = reverse("screening:review", kwargs={"examination_id": examination.pk})
    response = client.post(review, {"right_grade": "0", "left_grade": "1"}, follow=True)
    assert response.status_code == 200
    assert "entered in error; it cannot be reviewed" in response.content.decode()
    assert not Review.objects.exists()


def test_a_voided_examination_leaves_the_worklist(client, owner, colleague, patient) -> None:
    kept = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.9))
    voided = _graded(_examination(owner, patient), right=(2, 0.9), left=(0, 0.9))
    _void(voided, owner)
    client.force_login(colleague)
    response = client.get(reverse("screening:worklist"))
    assert [row["examination"].pk for row in response.context["rows"]] == [kept.pk]


def test_the_recall_falls_back_to_the_examination_before_a_voided_one(client, owner, patient) -> None:
    # Normal a year and more ago; last week's examination (Mild) was of someone else's photographs.
    previous = _examined(owner, patient, (0, 0), days_ago=400)
    _void(_examined(owner, patient, (1, 0), days_ago=5), owner)
    only_voided = PatientFactory.create(clinic=patient.clinic, created_by=owner)
    _void(_examined(owner, only_voided, (0, 0), days_ago=400), owner)
    client.force_login(owner)
    due = client.get(reverse("patients:list"), {"due": "1"}).content.decode()
    assert f'data-patient="{patient.pk}"' in due
    # Never (validly) examined: not on the annual recall, whose list is of patients screened a year ago.
    assert f'data-patient="{only_voided.pk}"' not in due
    page = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).content.decode()
    previous.refresh_from_db()
    assert f"Next screening due {(previous.created_at + timedelta(days=365)):%Y-%m-%d}" in page and "overdue" in page


def test_a_voided_newest_examination_sets_no_due_date(client, owner, patient) -> None:
    # The voided one would have said "rescreen", the one before it says "refer": no rescreening date.
    _examined(owner, patient, (1, 0), days_ago=30)
    _void(_examined(owner, patient, (0, 0), days_ago=2), owner)
    client.force_login(owner)
    page = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).content.decode()
    assert "Next screening due" not in page


def test_the_patient_list_shows_the_examination_before_a_voided_one_as_newest(client, owner, patient) -> None:
    previous = _examined(owner, patient, (0, 0), days_ago=40)
    voided = _examined(owner, patient, (2, 2), days_ago=1)
    _void(voided, owner)
    only_voided = PatientFactory.create(clinic=patient.clinic, created_by=owner)
    _void(_examined(owner, only_voided, (1, 1), days_ago=1), owner)
    client.force_login(owner)
    html = client.get(reverse("patients:list")).content.decode()
    row = html[html.index(f'data-patient="{patient.pk}"') :].split("</tr>")[0]
    assert _detail_url(previous) in row and _detail_url(voided) not in row
    assert "No referable DR: rescreen in 12 months" in row
    assert "never" in html[html.index(f'data-patient="{only_voided.pk}"') :].split("</tr>")[0]


def test_the_patient_page_lists_a_voided_examination_struck_through_and_charts_only_the_others(
    client, owner, patient
) -> None:
    from screening.selectors import patient_history_context

    kept = _examined(owner, patient, (0, 0), days_ago=40)
    voided = _examined(owner, patient, (2, 2), days_ago=1)
    _void(voided, owner)
    client.force_login(owner)
    html = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).content.decode()
    row = html[html.index(f'data-examination="{voided.pk}"') :].split("</tr>")[0]
    assert 'class="voided" data-voided="true"' in row and "<s>" in row and "entered in error" in row
    assert "data-voided" not in html[html.index(f'data-examination="{kept.pk}"') :].split("</tr>")[0]
    chart = patient_history_context(patient=patient)["chart"]
    assert [point["when"] for point in chart["series"]["right"]["points"]] == [
        Examination.objects.get(pk=kept.pk).created_at
    ]


def test_the_patient_page_and_list_keep_their_query_counts_with_voided_examinations(client, owner, patient) -> None:
    _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.9))
    client.force_login(owner)
    page, listing = _history_queries(owner, patient), _list_queries(client)
    for _ in range(3):
        _void(_graded(_examination(owner, patient), right=(1, 0.9), left=(0, 0.9)), owner)
    assert (_history_queries(owner, patient), _list_queries(client)) == (page, listing)


# --- amending a review ------------------------------------------------------------------------------------


def _amend_url(examination: Examination) -> str:
    return reverse("screening:review_amend", kwargs={"examination_id": examination.pk})


def _signed_off(patient, doctor, grades: tuple[int, int] = (0, 0)) -> Examination:
    examination = graded_examination(patient=patient, grades=grades)
    reviews.review_create(
        user=doctor, examination=examination, right_grade=grades[0], left_grade=grades[1], notes="Clear fundi."
    )
    return examination


def _amend(examination: Examination, doctor, reason: str = "A second look at the photographs.", **grades: int) -> None:
    review = Review.objects.get(examination=examination)
    values = {"right_grade": review.right_grade, "left_grade": review.left_grade, **grades}
    reviews.review_amend(user=doctor, examination=examination, notes=review.notes, reason=reason, **values)


AMENDMENT = {"right_grade": "1", "left_grade": "0", "notes": "Clear fundi.", "reason": "Microaneurysms missed."}


def test_a_doctor_amends_a_review_on_the_result_page_which_then_shows_it_amended_and_the_earlier_version(
    client, colleague, patient
) -> None:
    examination = _signed_off(patient, colleague)
    client.force_login(colleague)
    before = client.get(_detail_url(examination))
    form = before.context["amend_form"]
    assert form.initial == {"right_grade": 0, "left_grade": 0, "notes": "Clear fundi.", "revisions_seen": 0}
    assert '<input type="hidden" name="revisions_seen" value="0"' in before.content.decode()
    html = before.content.decode()
    # Folded away until asked for, like "Mark as entered in error"; the grades are selects.
    amend = html[html.index('<section class="card amend no-print" id="amend">') :].split("</section>")[0]
    assert "<details>" in amend and "<summary><h2>Amend review</h2></summary>" in amend
    assert f'action="{_amend_url(examination)}"' in html and '<select name="right_grade"' in html
    assert "Earlier versions" not in html and "Amended" not in html

    response = client.post(_amend_url(examination), AMENDMENT, follow=True)

    assert response.redirect_chain == [(_detail_url(examination), 302)]
    review = Review.objects.get()
    assert (review.right_grade, review.left_grade, review.doctor) == (1, 0, colleague)
    revision = ReviewRevision.objects.get()
    html = response.content.decode()
    assert "Review amended." in html
    when, signed = (f"{value:%Y-%m-%d %H:%M}" for value in (review.amended_at, revision.signed_off_at))
    assert f"<strong>Amended {when} UTC by colleague.</strong>" in html
    assert f"First signed off by colleague on {signed} UTC." in html
    earlier = html[html.index('id="review-revisions"') :].split("</ol>")[0]
    assert "Earlier versions" in earlier and f'data-revision="{revision.pk}"' in earlier
    assert "Right eye: <strong>No DR (ICDR 0)</strong> · Left eye: <strong>No DR (ICDR 0)</strong>" in earlier
    assert "Clear fundi." in earlier
    assert f"Signed off by colleague on {signed} UTC · amended by colleague on {when} UTC" in earlier
    assert '<span class="revision-reason">Microaneurysms missed.</span>' in earlier
    # The current review heads the panel, and the doctor's recommendation follows the amended grade.
    assert "Right eye: <strong>Mild-moderate NPDR (ICDR 1-2)</strong>" in html
    assert 'data-answer="refer" data-source="doctor"' in html
    assert AuditEvent.objects.get(action="review.amend").detail == {"changed": ["right_grade"], "revision": revision.pk}


def test_a_page_opened_before_a_colleagues_amendment_cannot_overwrite_it(client, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    client.force_login(colleague)
    seen = client.get(_detail_url(examination)).context["amend_form"].initial["revisions_seen"]
    _amend(examination, colleague, right_grade=2, reason="Neovessels at the disc.")  # a colleague, meanwhile

    response = client.post(_amend_url(examination), AMENDMENT | {"revisions_seen": str(seen)}, follow=True)

    assert response.redirect_chain == [(_detail_url(examination), 302)]
    assert "The review was amended by colleague at" in response.content.decode()
    assert Review.objects.get().right_grade == 2 and ReviewRevision.objects.count() == 1
    # The page now offers the current version to amend.
    assert response.context["amend_form"].initial["right_grade"] == 2
    assert response.context["amend_form"].initial["revisions_seen"] == 1


def test_the_printed_result_says_the_review_was_amended_and_leaves_the_earlier_versions_on_screen(
    client, colleague, patient
) -> None:
    examination = _signed_off(patient, colleague)
    _amend(examination, colleague, right_grade=1)
    client.force_login(colleague)
    html = client.get(_detail_url(examination)).content.decode()
    # The amended line sits in the review card (printed); the versions and the form are marked no-print.
    review_card = html[html.index('<section class="card review" id="review">') :].split("</section>")[0]
    assert '<p id="review-amended">' in review_card
    assert '<div class="revisions no-print" id="review-revisions">' in review_card
    assert '<p class="print-only" id="print-revisions">1 earlier version of this review is kept in the portal.</p>' in (
        review_card
    )


def test_an_amendment_without_a_reason_is_refused_beside_the_field_and_nothing_is_saved(
    client, colleague, patient
) -> None:
    examination = _signed_off(patient, colleague)
    client.force_login(colleague)
    response = client.post(_amend_url(examination), {**AMENDMENT, "reason": "   "})
    assert response.status_code == 400
    assert set(response.context["amend_form"].errors) == {"reason"}
    html = response.content.decode()
    assert 'id="amend-reason-errors"' in html and "Say why the review is amended" in html
    assert "<details open>" in html  # the disclosure opens again on its error
    # What the doctor chose is kept in the form, and nothing was saved.
    assert '<option value="1" selected>Mild-moderate NPDR (ICDR 1-2)</option>' in html
    assert Review.objects.get().right_grade == 0 and not ReviewRevision.objects.exists()
    assert not AuditEvent.objects.filter(action="review.amend").exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**AMENDMENT, "right_grade": "0"}, None),  # the signed-off values: nothing changed
        ({**AMENDMENT, "left_grade": "3"}, "left_grade"),
        ({}, "right_grade"),
    ],
)
def test_an_unchanged_or_malformed_amendment_is_refused_on_the_page_not_a_500(
    client, colleague, patient, data, field
) -> None:
    examination = _signed_off(patient, colleague)
    client.force_login(colleague)
    response = client.post(_amend_url(examination), data)
    assert response.status_code == 400
    errors = response.context["amend_form"].errors
    if field is None:
        assert "Nothing to amend" in " ".join(errors["__all__"]) and 'id="amend-errors"' in response.content.decode()
    else:
        assert field in errors
    assert not ReviewRevision.objects.exists()


def test_staff_are_not_offered_an_amendment_and_get_403(client, owner, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    client.force_login(owner)
    page = client.get(_detail_url(examination))
    assert page.context["amend_form"] is None and _amend_url(examination) not in page.content.decode()
    assert client.post(_amend_url(examination), AMENDMENT).status_code == 403
    assert client.post(_amend_url(examination), {}).status_code == 403  # the role first, then the fields
    assert Review.objects.get().right_grade == 0


def test_another_clinics_review_answers_404_to_an_amendment(client, colleague, outsider, clinic_admin, patient) -> None:
    examination = _signed_off(patient, colleague)
    for user in (outsider, clinic_admin):
        client.force_login(user)
        assert client.post(_amend_url(examination), AMENDMENT).status_code == 404
    assert Review.objects.get().right_grade == 0


def test_an_unreviewed_or_voided_examination_offers_no_amendment_and_refuses_one_with_a_message(
    client, owner, colleague, patient
) -> None:
    unreviewed = graded_examination(patient=patient)
    voided = _signed_off(patient, colleague)
    _void(voided, colleague)
    client.force_login(colleague)
    for examination, words in ((unreviewed, "not been signed off yet"), (voided, "its review cannot be amended")):
        assert client.get(_detail_url(examination)).context["amend_form"] is None
        response = client.post(_amend_url(examination), AMENDMENT, follow=True)
        assert response.redirect_chain == [(_detail_url(examination), 302)]
        assert words in response.content.decode()
    assert not ReviewRevision.objects.exists() and Review.objects.get().right_grade == 0


def test_the_recall_follows_an_amended_grade(client, owner, colleague, patient) -> None:
    from patients.models import Patient
    from screening.selectors import due_for_rescreening

    examination = _examined(owner, patient, (0, 0), days_ago=400)
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    clinic_patients = Patient.objects.filter(clinic=patient.clinic)
    assert list(due_for_rescreening(patients=clinic_patients)) == [patient]

    _amend(examination, colleague, right_grade=1)  # No DR -> Mild: referral, not rescreening

    assert list(due_for_rescreening(patients=clinic_patients)) == []
    client.force_login(owner)
    assert f'data-patient="{patient.pk}"' not in client.get(reverse("patients:list"), {"due": "1"}).content.decode()
    page = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).content.decode()
    assert "Next screening due" not in page and "Doctor's decision · model suggestion" in page and "(amended)" in page
    # The amended review stays off the worklist: it was signed off.
    client.force_login(colleague)
    assert examination.pk not in [
        row["examination"].pk for row in client.get(reverse("screening:worklist")).context["rows"]
    ]


def test_the_patient_page_runs_the_same_queries_for_1_and_5_amended_reviews(owner, colleague, patient) -> None:
    _amend(_signed_off(patient, colleague), colleague, right_grade=1)
    one = _history_queries(owner, patient)
    for _ in range(4):
        examination = _signed_off(patient, colleague)
        _amend(examination, colleague, right_grade=1)
        _amend(examination, colleague, right_grade=2)
    assert _history_queries(owner, patient) == one


def test_the_result_page_says_when_an_eye_was_graded_with_the_other(client, owner, patient) -> None:
    examination = graded_examination(patient=patient)
    url = reverse("screening:detail", kwargs={"examination_id": examination.pk})
    client.force_login(owner)
    assert "Graded together with the other eye" not in client.get(url).content.decode()
    Prediction.objects.filter(eye_image__examination=examination).update(graded_with_other_eye=True)
    assert client.get(url).content.decode().count("Graded together with the other eye") == 2


@pytest.mark.parametrize("action", ["review", "review_amend", "void"])
def test_a_get_of_an_examination_action_goes_back_to_the_examination(client, colleague, patient, action) -> None:
    """What the login page sends to its "next" after a session ended under a form: it was a blank 405."""
    examination = graded_examination(patient=patient)
    client.force_login(colleague)
    response = client.get(reverse(f"screening:{action}", kwargs={"examination_id": examination.pk}))
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:detail", kwargs={"examination_id": examination.pk})
    assert client.put(reverse(f"screening:{action}", kwargs={"examination_id": examination.pk})).status_code == 405


def test_an_unreviewed_examinations_review_form_is_not_printed(client, colleague, patient) -> None:
    """Printed, the empty form left a 'Review' heading and its instruction on the paper record."""
    examination = graded_examination(patient=patient)
    client.force_login(colleague)
    html = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk})).content.decode()
    assert '<section class="card review no-print" id="review">' in html


def test_an_eye_graded_with_the_other_says_what_its_photograph_alone_was_given(client, owner, patient) -> None:
    """The exploratory test: the warning read a score and a grade the page never showed."""
    examination = graded_examination(patient=patient, grades=(1, 0))
    Prediction.objects.filter(eye_image__examination=examination, eye_image__side="right").update(
        graded_with_other_eye=True, single_eye_class=0, seed_score=0.62
    )
    Prediction.objects.filter(eye_image__examination=examination, eye_image__side="left").update(
        graded_with_other_eye=True, single_eye_class=0, seed_score=0.9
    )
    client.force_login(owner)
    html = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk})).content.decode()
    assert "This photograph alone: No DR (ICDR 0) (62%), <strong" in html  # right: Mild together, No DR alone
    assert "a different grade: the other eye changed it" in html
    assert "This photograph alone: No DR (ICDR 0) (90%)." in html  # left: the same grade either way
    body = client.get(f"/api/v1/examinations/{examination.pk}/").json()
    assert body["eyes"]["right"]["alone"] == {"grade": 0, "label": "No DR", "score": 0.62, "changed": True}
    assert body["eyes"]["left"]["alone"]["changed"] is False


def test_the_worklist_does_not_call_a_retake_referable(client, owner, colleague, patient) -> None:
    """The exploratory test: an examination whose recommendation is "Retake" was marked "Referable" and put
    first, because the model graded its ungradable photograph Proliferative."""
    from screening.models import EyeImage

    healthy = _graded(_examination(owner, patient), right=(0, 0.9), left=(0, 0.9))
    retake = _graded(_examination(owner, patient), right=(0, 0.9), left=(2, 0.9))
    EyeImage.objects.filter(examination=retake, side="left").update(gradable=False)
    referable = _graded(_examination(owner, patient), right=(1, 0.8), left=(0, 0.9))
    client.force_login(colleague)
    response = client.get(reverse("screening:worklist"))
    assert [row["examination"].pk for row in response.context["rows"]] == [referable.pk, healthy.pk, retake.pk]
    row = response.content.decode().split(f'data-examination="{retake.pk}"')[1].split("</tr>")[0]
    assert "Referable" not in row


def test_an_eyes_percentages_add_up_to_100() -> None:
    """The exploratory test: an eye's bars read 38 / 53 / 10 = 101%, each confidence rounded alone."""
    confidences = {"No DR": 0.3756, "Mild": 0.5254, "Proliferative": 0.099}
    assert [round(value * 100) for value in confidences.values()] == [38, 53, 10]  # as it was
    assert whole_percentages(confidences) == {"No DR": 38, "Mild": 52, "Proliferative": 10}
    for spread in ({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, {"a": 0.995, "b": 0.004, "c": 0.001}):
        assert sum(whole_percentages(spread).values()) == 100
