from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image
from rest_framework.throttling import ScopedRateThrottle

from audit.models import AuditEvent
from patients.authentication import token_issue
from screening.models import Examination, Review, ReviewRevision, Status
from screening.referral import SEED_MESSAGE
from tests.examination_data import graded_examination, png, upload
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

EXAMS = "/api/v1/examinations/"


def _upload(api, patient_id, **overrides):
    data = {
        "patient": patient_id,
        "right_eye": upload("r.png", (200, 30, 30)),
        "left_eye": upload("l.png", (30, 30, 200)),
        "notes": "first visit",
        **overrides,
    }
    return api.post(EXAMS, data, format="multipart")


def test_staff_upload_a_pair_and_get_202_with_the_queued_examination(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = _upload(api, patient.pk)
    assert response.status_code == 202, response.content
    body = response.json()
    examination = Examination.objects.get(pk=body["id"])
    assert (body["patient"], body["status"], examination.status) == (patient.pk, "queued", Status.QUEUED)
    assert body["eyes"]["right"]["image_url"].endswith(f"/api/v1/examinations/{examination.pk}/eyes/right/image/")
    assert body["eyes"]["right"]["grade"] is None and body["review"] is None
    assert AuditEvent.objects.filter(action="examination.create", actor=owner, patient=patient).count() == 1


def test_a_bad_photograph_is_a_400_naming_the_eye_and_nothing_is_saved(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = _upload(api, patient.pk, left_eye=SimpleUploadedFile("l.gif", b"GIF89a not really", "image/gif"))
    assert response.status_code == 400
    assert set(response.json()) == {"left_eye"}
    assert not Examination.objects.exists()


def test_a_missing_eye_is_a_400(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = api.post(EXAMS, {"patient": patient.pk, "right_eye": upload("r.png", (1, 2, 3))}, format="multipart")
    assert response.status_code == 400 and "left_eye" in response.json()


def test_another_clinics_patient_is_a_400_no_such_patient(api, outsider, patient) -> None:
    api.force_authenticate(outsider)
    response = _upload(api, patient.pk)
    assert response.status_code == 400
    assert response.json()["patient"] == ["No such patient."]
    assert not Examination.objects.exists()


@override_settings(UPLOAD_MAX_BYTES=1000)
def test_a_photograph_over_the_byte_cap_is_a_400(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = _upload(api, patient.pk, right_eye=upload("r.png", (9, 9, 9)), left_eye=_big_png())
    assert response.status_code in (400, 413)
    assert not Examination.objects.exists()


@override_settings(UPLOAD_MAX_PIXELS=64 * 64 - 1)
def test_a_photograph_over_the_pixel_cap_is_a_400(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = _upload(api, patient.pk)
    assert response.status_code == 400
    assert "megapixels" in str(response.json())


@override_settings(MAX_REQUEST_BYTES=50_000)
def test_a_request_body_far_over_the_cap_is_refused_before_parsing(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = _upload(api, patient.pk, right_eye=_big_png(), left_eye=_big_png())
    assert response.status_code == 413


def test_uploads_are_throttled(api, owner, patient, monkeypatch) -> None:
    # The rates are read into the throttle class when DRF loads; patch the class for a tiny rate.
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "uploads": "2/minute"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    api.force_authenticate(owner)
    assert [_upload(api, patient.pk).status_code for _ in range(3)] == [202, 202, 429]


def test_an_examination_answers_with_grades_confidences_referral_and_urls(api, colleague, patient) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    api.force_authenticate(colleague)
    body = api.get(f"{EXAMS}{examination.pk}/").json()
    assert body["status"] == "done" and body["model_version"] == "test-model-1" and body["error"] is None
    right = body["eyes"]["right"]
    assert (right["grade"], right["label"]) == (1, "Mild")
    assert right["confidences"] == {"No DR": 0.1, "Mild": 0.8, "Proliferative": 0.1}
    assert right["graded_with_other_eye"] is False
    assert right["heatmap_url"].endswith(f"/api/v1/examinations/{examination.pk}/eyes/right/heatmap/")
    assert right["quality_reasons"] == [] and body["pair_warning"] is None
    # Both eyes scored 0.8: the seed rule's warning shows; one eye is Mild, so the advice is to refer.
    assert body["referral"] == {"warning": True, "message": SEED_MESSAGE, "recommendation": "refer"}
    assert AuditEvent.objects.filter(action="examination.view", patient=patient, actor=colleague).count() == 1


def test_the_photograph_and_heatmap_urls_answer_a_token_client_and_are_audited(
    api, colleague, outsider, patient
) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=colleague).key}")
    right = api.get(f"{EXAMS}{examination.pk}/").json()["eyes"]["right"]
    photo, heat = api.get(right["image_url"]), api.get(right["heatmap_url"])
    assert (photo.status_code, photo["Content-Type"]) == (200, "image/png")
    assert (heat.status_code, heat["Content-Type"]) == (200, "image/jpeg")
    assert b"".join(photo.streaming_content).startswith(b"\x89PNG")
    for action in ("eye_image.view", "heatmap.view"):
        event = AuditEvent.objects.get(action=action, actor=colleague, patient=patient)
        assert event.detail["channel"] == "api" and event.detail["side"] == "right"
    # Another clinic's token: 404, as for the examination; no token: 401, not a redirect to a login page.
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=outsider).key}")
    assert api.get(right["image_url"]).status_code == 404 and api.get(right["heatmap_url"]).status_code == 404
    api.credentials()
    assert api.get(right["image_url"]).status_code == 401
    assert api.get(f"{EXAMS}{examination.pk}/eyes/middle/image/").status_code in (401, 404)


def test_an_ungraded_eyes_heatmap_is_a_404_and_its_url_null(api, owner, patient) -> None:
    api.force_authenticate(owner)
    body = _upload(api, patient.pk).json()
    assert body["eyes"]["right"]["heatmap_url"] is None
    assert api.get(f"{EXAMS}{body['id']}/eyes/right/heatmap/").status_code == 404
    assert api.get(body["eyes"]["right"]["image_url"]).status_code == 200


def test_bad_photographs_are_refused_per_eye_with_400_and_nothing_saved(api, owner, patient) -> None:
    api.force_authenticate(owner)
    white = io.BytesIO()
    Image.new("RGB", (800, 600), (255, 255, 255)).save(white, "PNG")
    response = _upload(
        api,
        patient.pk,
        right_eye=upload("r.png", (200, 30, 30)),
        left_eye=SimpleUploadedFile("l.png", white.getvalue(), "image/png"),
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"left_eye"} and "Not a fundus photograph" in errors["left_eye"][0]
    same = png((10, 200, 30))
    twice = _upload(
        api,
        patient.pk,
        right_eye=SimpleUploadedFile("r.png", same, "image/png"),
        left_eye=SimpleUploadedFile("l.png", same, "image/png"),
    )
    assert twice.status_code == 400
    assert all("The same file was chosen for both eyes" in twice.json()[f][0] for f in ("right_eye", "left_eye"))
    assert Examination.objects.count() == 0


def test_the_pair_warning_and_the_quality_reasons_are_in_the_document(api, owner, patient) -> None:
    api.force_authenticate(owner)
    same = Image.open(io.BytesIO(png((200, 30, 30))))
    again = io.BytesIO()
    same.save(again, "JPEG", quality=95)  # the same picture, re-encoded: other pixels, a warning
    response = _upload(
        api,
        patient.pk,
        right_eye=SimpleUploadedFile("r.png", png((200, 30, 30)), "image/png"),
        left_eye=SimpleUploadedFile("l.jpg", again.getvalue(), "image/jpeg"),
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["pair_warning"] == "The right and left photographs look like the same photograph."
    eye = body["eyes"]["right"]
    # A flat colour square is no fundus photograph: ungradable, and the document says why.
    assert eye["gradable"] is False and eye["quality_reasons"]


def test_another_clinics_examination_answers_404(api, outsider, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(outsider)
    assert api.get(f"{EXAMS}{examination.pk}/").status_code == 404
    assert api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 0, "left_grade": 0}).status_code == 404


def test_a_doctor_reviews_and_the_model_grades_stay(api, colleague, patient) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    api.force_authenticate(colleague)
    response = api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 2, "left_grade": 0, "notes": "ok"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["review"]["right_grade"] == 2 and body["review"]["doctor"] == colleague.pk
    assert body["eyes"]["right"]["grade"] == 1
    assert AuditEvent.objects.filter(action="review.create", patient=patient, actor=colleague).count() == 1


def test_a_second_review_is_a_400(api, colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(colleague)
    api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 0, "left_grade": 0})
    response = api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 1, "left_grade": 1})
    assert response.status_code == 400 and "non_field_errors" in response.json()
    assert Review.objects.count() == 1


def test_reviewing_an_ungraded_examination_is_a_400(api, colleague, patient) -> None:
    examination = Examination.objects.create(patient=patient)
    api.force_authenticate(colleague)
    assert api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 0, "left_grade": 0}).status_code == 400


@pytest.mark.parametrize(
    "grades",
    [
        {"right_grade": 3, "left_grade": 0},
        {"right_grade": 9, "left_grade": 0},  # Ungradable's stored number is not the API's key
        {"right_grade": "ungradable ", "left_grade": 0},
        {"right_grade": "x"},
        {},
    ],
)
def test_bad_grades_are_a_400(api, colleague, patient, grades) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(colleague)
    assert api.post(f"{EXAMS}{examination.pk}/review/", grades, format="json").status_code == 400


def test_staff_cannot_review(api, owner, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(owner)
    assert api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 0, "left_grade": 0}).status_code == 403
    assert not Review.objects.exists()


def test_the_history_lists_a_patients_examinations_newest_first(api, owner, patient, clinic) -> None:
    older = graded_examination(patient=patient)
    newer = graded_examination(patient=patient)
    graded_examination(patient=PatientFactory.create(clinic=clinic))
    api.force_authenticate(owner)
    body = api.get(f"/api/v1/patients/{patient.pk}/examinations/").json()
    assert [e["id"] for e in body["results"]] == [newer.pk, older.pk]
    assert body["count"] == 2 and body["results"][0]["eyes"]["left"]["label"] == "No DR"
    assert AuditEvent.objects.filter(action="examination.list", patient=patient).count() == 1


def test_another_clinics_history_answers_404(api, outsider, patient) -> None:
    api.force_authenticate(outsider)
    assert api.get(f"/api/v1/patients/{patient.pk}/examinations/").status_code == 404


def _big_png() -> SimpleUploadedFile:
    return SimpleUploadedFile("big.png", png((5, 5, 5), size=(64, 64)) + b"\0" * 100_000, content_type="image/png")


def test_a_tiny_but_valid_photograph_is_accepted_not_a_500(api, owner, patient) -> None:
    # Django reads no dimensions from the unnamed in-memory file the service stores: it must set them.
    api.force_authenticate(owner)
    tiny = {"right_eye": _tiny_png((250, 0, 0)), "left_eye": _tiny_png((0, 0, 250))}
    response = _upload(api, patient.pk, **tiny)
    assert response.status_code == 202, response.content
    eye = Examination.objects.get().images.get(side="right")
    assert (eye.width, eye.height) == (16, 16)


def _tiny_png(colour: tuple[int, int, int]) -> SimpleUploadedFile:
    return SimpleUploadedFile("tiny.png", png(colour, size=(16, 16)), content_type="image/png")


def test_statistics_give_doctors_the_pages_figures_as_json(api, owner, colleague, patient) -> None:
    from screening import reviews

    examination = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=1)
    graded_examination(patient=patient, grades=(0, 0), created_by=owner)
    api.force_authenticate(colleague)
    body = api.get("/api/v1/statistics/").json()
    assert body["totals"]["examinations"] == 2 and body["totals"]["graded"] == 2
    assert body["totals"]["outcomes"] == {"refer": 1, "rescreen_12_months": 1, "retake": 0}
    assert "month" not in body["totals"]  # the window since "since", labelled with its first month before
    assert body["agreement"]["eyes"] == 2 and body["agreement"]["agreed"] == 1
    assert body["agreement"]["matrix"] == [[0, 0, 0], [1, 1, 0], [0, 0, 0]]  # rows: the doctor's grade
    api.force_authenticate(owner)
    assert api.get("/api/v1/statistics/").status_code == 403


def test_a_reviewed_examination_carries_the_doctors_recommendation(api, owner, colleague, patient) -> None:
    from screening import reviews

    examination = graded_examination(patient=patient, grades=(0, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=2)
    api.force_authenticate(owner)
    body = api.get(f"/api/v1/examinations/{examination.pk}/").json()
    assert body["referral"]["recommendation"] == "rescreen_12_months"  # the model's
    assert body["review"]["recommendation"] == "refer"  # the doctor's


def test_the_document_leads_with_one_answer_the_models_until_a_doctor_signs_off(api, owner, colleague, patient) -> None:
    from screening import reviews

    examination = graded_examination(patient=patient, grades=(2, 0), created_by=owner)
    api.force_authenticate(owner)
    body = api.get(f"{EXAMS}{examination.pk}/").json()
    model = {
        "key": "refer",
        "label": "Refer to an ophthalmologist",
        "reason": "Right eye: Severe NPDR or PDR (ICDR 3-4)",
    }
    assert body["answer"] == {**model, "source": "model", "model_suggestion": model}
    # The seed rule's fields stay as they were, beside it.
    assert set(body["referral"]) == {"warning", "message", "recommendation"}
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    body = api.get(f"{EXAMS}{examination.pk}/").json()
    assert body["answer"] == {
        "key": "rescreen_12_months",
        "label": "No referable DR: rescreen in 12 months",
        "reason": "Both eyes: No DR (ICDR 0)",
        "source": "doctor",
        "model_suggestion": model,
    }
    queued = Examination.objects.create(patient=patient)
    assert api.get(f"{EXAMS}{queued.pk}/").json()["answer"] is None


def test_a_doctor_signs_an_eye_off_as_ungradable_through_the_api(api, colleague, patient) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    api.force_authenticate(colleague)
    response = api.post(
        f"{EXAMS}{examination.pk}/review/", {"right_grade": "Ungradable", "left_grade": 0}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["review"]["right_grade"], body["review"]["left_grade"]) == ("Ungradable", 0)
    assert body["review"]["recommendation"] == "retake"
    assert (body["answer"]["key"], body["answer"]["source"]) == ("retake", "doctor")
    assert body["answer"]["reason"] == "Right eye photograph judged ungradable by the doctor"
    assert body["answer"]["model_suggestion"]["key"] == "refer"
    assert Review.objects.get().right_grade == 9
    # ... and amends it back to a grade, the Ungradable version kept as a revision.
    amended = _amend(api, examination, right_grade=1, left_grade="Ungradable")
    assert amended.status_code == 200, amended.content
    review = amended.json()["review"]
    assert (review["right_grade"], review["left_grade"]) == (1, "Ungradable")
    assert (review["revisions"][0]["right_grade"], review["revisions"][0]["left_grade"]) == ("Ungradable", 0)


def test_the_schema_documents_the_answer_and_the_ungradable_key(api_schema) -> None:
    schemas = api_schema["components"]["schemas"]
    answer = schemas["AnswerOutput"]["properties"]
    assert set(answer) == {"key", "label", "reason", "source", "model_suggestion"}
    assert "answer" in schemas["ExaminationOutput"]["properties"]
    request = next(name for name in schemas if name.startswith("ReviewCreateInput"))
    grade = schemas[request]["properties"]["right_grade"]
    assert {"type": "string", "enum": ["Ungradable"]} in grade["oneOf"]


# --- entered in error -----------------------------------------------------------------------------------


def _void(api, examination, reason="Photographs of another patient."):
    return api.post(f"{EXAMS}{examination.pk}/void/", {"reason": reason}, format="json")


def test_an_examination_shows_empty_void_fields_until_voided(api, owner, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(owner)
    body = api.get(f"{EXAMS}{examination.pk}/").json()
    assert (body["voided"], body["voided_at"], body["voided_by"], body["void_reason"]) == (False, None, None, "")


def test_staff_void_an_examination_and_get_it_back_with_the_void_fields(api, owner, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(owner)
    response = _void(api, examination, reason="  Photographs of another patient. ")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["voided"], body["voided_by"]) == (examination.pk, True, owner.pk)
    assert body["void_reason"] == "Photographs of another patient." and body["voided_at"]
    # The record is kept: grades and photographs are still there.
    assert body["eyes"]["right"]["grade"] == 1 and body["eyes"]["right"]["image_url"]
    event = AuditEvent.objects.get(action="examination.void")
    assert (event.actor, event.patient) == (owner, patient)
    assert event.detail == {"channel": "api", "status": "done", "reviewed": False}
    history = api.get(f"/api/v1/patients/{patient.pk}/examinations/").json()
    assert history["results"][0]["voided"] is True  # still in the history, marked


@pytest.mark.parametrize("data", [{"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, {}])
def test_a_blank_missing_or_overlong_reason_is_a_400_on_the_field(api, owner, patient, data) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(owner)
    response = api.post(f"{EXAMS}{examination.pk}/void/", data, format="json")
    assert response.status_code == 400 and set(response.json()) == {"reason"}
    assert not Examination.objects.get(pk=examination.pk).voided
    assert not AuditEvent.objects.filter(action="examination.void").exists()


def test_voiding_twice_is_a_400(api, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(owner)
    assert _void(api, examination).status_code == 200
    api.force_authenticate(colleague)
    response = _void(api, examination, reason="Wrong patient.")
    assert response.status_code == 400
    assert "already been marked as entered in error" in response.json()["non_field_errors"][0]
    assert Examination.objects.get(pk=examination.pk).voided_by == owner


def test_staff_get_403_voiding_a_signed_off_examination_and_a_doctor_may(api, owner, colleague, patient) -> None:
    from screening import reviews

    examination = graded_examination(patient=patient)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    api.force_authenticate(owner)
    assert _void(api, examination).status_code == 403
    assert api.post(f"{EXAMS}{examination.pk}/void/", {}, format="json").status_code == 403  # role before body
    assert not Examination.objects.get(pk=examination.pk).voided
    api.force_authenticate(colleague)
    response = _void(api, examination)
    assert response.status_code == 200 and response.json()["voided_by"] == colleague.pk
    assert response.json()["review"]["right_grade"] == 1  # the review is kept


def test_another_clinics_examination_answers_404_to_a_void(api, outsider, clinic_admin, patient) -> None:
    examination = graded_examination(patient=patient)
    for user in (outsider, clinic_admin):
        api.force_authenticate(user)
        assert _void(api, examination).status_code == 404
    assert not Examination.objects.get(pk=examination.pk).voided


def test_reviewing_a_voided_examination_is_a_400(api, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(owner)
    _void(api, examination)
    api.force_authenticate(colleague)
    response = api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 0, "left_grade": 0})
    assert response.status_code == 400
    assert "entered in error" in response.json()["non_field_errors"][0]
    assert not Review.objects.exists()


def test_the_schema_documents_the_void(api_schema) -> None:
    schema = api_schema
    operation = schema["paths"]["/api/v1/examinations/{examination_id}/void/"]["post"]
    assert operation["operationId"] == "examinations_void_create"
    assert {"200", "400", "403", "404"} <= set(operation["responses"])
    examination = schema["components"]["schemas"]["ExaminationOutput"]["properties"]
    assert {"voided", "voided_at", "voided_by", "void_reason"} <= set(examination)


# --- amending a review ------------------------------------------------------------------------------------

AMENDMENT = {"right_grade": 1, "left_grade": 0, "notes": "Clear fundi.", "reason": "Microaneurysms missed."}


def _signed_off(patient, doctor, grades=(0, 0)):
    from screening import reviews

    examination = graded_examination(patient=patient, grades=grades)
    reviews.review_create(
        user=doctor, examination=examination, right_grade=grades[0], left_grade=grades[1], notes="Clear fundi."
    )
    return examination


def _amend(api, examination, **changes):
    return api.post(f"{EXAMS}{examination.pk}/review/amend/", {**AMENDMENT, **changes}, format="json")


def test_an_unamended_review_shows_no_amendment_and_no_revisions(api, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(colleague)
    review = api.get(f"{EXAMS}{examination.pk}/").json()["review"]
    assert (review["amended_at"], review["revisions"]) == (None, [])


def test_a_doctor_amends_a_review_and_the_document_shows_the_earlier_version(api, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(colleague)
    signed_off_at = api.get(f"{EXAMS}{examination.pk}/").json()["review"]["signed_off_at"]
    response = _amend(api, examination, reason="  Microaneurysms missed.  ")
    assert response.status_code == 200, response.content
    review = response.json()["review"]
    assert (review["right_grade"], review["left_grade"], review["doctor"]) == (1, 0, colleague.pk)
    assert review["recommendation"] == "refer" and review["amended_at"] == review["signed_off_at"]
    assert review["revisions"] == [
        {
            "right_grade": 0,
            "left_grade": 0,
            "notes": "Clear fundi.",
            "signed_by": colleague.pk,
            "signed_off_at": signed_off_at,
            "amended_by": colleague.pk,
            "amended_at": review["amended_at"],
            "reason": "Microaneurysms missed.",
        }
    ]
    assert response.json()["eyes"]["right"]["grade"] == 0  # the model's grade is kept
    event = AuditEvent.objects.get(action="review.amend")
    assert (event.actor, event.patient) == (colleague, patient)
    assert event.detail == {"channel": "api", "changed": ["right_grade"], "revision": ReviewRevision.objects.get().pk}


def test_two_amendments_list_two_earlier_versions_oldest_first(api, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(colleague)
    assert _amend(api, examination, right_grade=1, reason="First.").status_code == 200
    review = _amend(api, examination, right_grade=2, left_grade=1, reason="Second.").json()["review"]
    assert (review["right_grade"], review["left_grade"]) == (2, 1)
    assert [(r["right_grade"], r["left_grade"], r["reason"]) for r in review["revisions"]] == [
        (0, 0, "First."),
        (1, 0, "Second."),
    ]
    # The history lists the same document.
    history = api.get(f"/api/v1/patients/{patient.pk}/examinations/").json()["results"][0]["review"]
    assert history["revisions"] == review["revisions"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": None}, "reason"),
        ({"right_grade": 3}, "right_grade"),
        ({"left_grade": "x"}, "left_grade"),
    ],
)
def test_a_bad_amendment_is_a_400_on_the_field_and_nothing_is_saved(api, colleague, patient, changes, field) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(colleague)
    response = _amend(api, examination, **changes)
    assert response.status_code == 400 and field in response.json()
    assert not ReviewRevision.objects.exists() and Review.objects.get().right_grade == 0
    assert not AuditEvent.objects.filter(action="review.amend").exists()


def test_an_amendment_against_a_replaced_version_is_a_400_and_changes_nothing(api, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(colleague)
    assert _amend(api, examination, revisions_seen=0).status_code == 200
    response = _amend(api, examination, right_grade=2, revisions_seen=0)
    assert response.status_code == 400
    assert "amended by colleague" in response.json()["non_field_errors"][0]
    assert Review.objects.get().right_grade == 1 and ReviewRevision.objects.count() == 1
    assert _amend(api, examination, right_grade=2, revisions_seen=1).status_code == 200


def test_an_amendment_counting_more_versions_than_exist_is_not_blamed_on_a_colleague(api, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(colleague)
    response = _amend(api, examination, right_grade=2, revisions_seen=5)
    # Never amended: "amended by ... after you opened it" would have been untrue.
    assert response.status_code == 400
    assert response.json() == {
        "revisions_seen": ["The review has 0 earlier versions, not 5: read the current version first."]
    }
    assert not ReviewRevision.objects.exists() and Review.objects.get().right_grade == 0


def test_an_amendment_must_state_the_notes_so_leaving_them_out_erases_nothing(api, colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(colleague)
    body = {key: value for key, value in AMENDMENT.items() if key != "notes"}
    response = api.post(f"{EXAMS}{examination.pk}/review/amend/", body, format="json")
    assert response.status_code == 400 and "notes" in response.json()
    assert Review.objects.get().notes == "Clear fundi."


def test_an_unchanged_unreviewed_or_voided_amendment_is_a_400(api, colleague, patient) -> None:
    from screening import services

    api.force_authenticate(colleague)
    unchanged = _amend(api, _signed_off(patient, colleague), right_grade=0)
    unreviewed = _amend(api, graded_examination(patient=patient))
    voided = _signed_off(patient, colleague)
    services.examination_void(user=colleague, examination=voided, reason="Wrong patient.")
    for response, words in (
        (unchanged, "Nothing to amend"),
        (unreviewed, "not been signed off yet"),
        (_amend(api, voided), "its review cannot be amended"),
    ):
        assert response.status_code == 400 and words in response.json()["non_field_errors"][0]
    assert not AuditEvent.objects.filter(action="review.amend").exists()


def test_staff_get_403_amending_and_other_clinics_404(api, owner, colleague, outsider, clinic_admin, patient) -> None:
    examination = _signed_off(patient, colleague)
    api.force_authenticate(owner)
    assert _amend(api, examination).status_code == 403
    assert api.post(f"{EXAMS}{examination.pk}/review/amend/", {}, format="json").status_code == 403  # role first
    for user in (outsider, clinic_admin):
        api.force_authenticate(user)
        assert _amend(api, examination).status_code == 404
    assert Review.objects.get().right_grade == 0


def test_the_schema_documents_the_amendment(api_schema) -> None:
    schema = api_schema
    operation = schema["paths"]["/api/v1/examinations/{examination_id}/review/amend/"]["post"]
    assert operation["operationId"] == "examinations_review_amend_create"
    assert {"200", "400", "403", "404"} <= set(operation["responses"])
    review = schema["components"]["schemas"]["ReviewOutput"]["properties"]
    assert {"amended_at", "revisions"} <= set(review)
    revision = schema["components"]["schemas"]["ReviewRevisionOutput"]["properties"]
    assert set(revision) == {
        *("right_grade", "left_grade", "notes", "signed_by", "signed_off_at", "amended_by", "amended_at", "reason")
    }


# POST /api/v1/examinations/<id>/referral/close/: a doctor closes the patient's open referral


def test_a_doctor_closes_an_open_referral_through_the_api_and_it_is_audited(api, colleague, patient) -> None:
    from screening.models import ReferralClosure

    older = graded_examination(patient=patient, grades=(1, 0))
    referred = graded_examination(patient=patient, grades=(2, 2))
    api.force_authenticate(colleague)
    response = api.post(f"{EXAMS}{referred.pk}/referral/close/", {"outcome": " Seen, laser. "}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["examination"], body["closed_by"]) == (referred.pk, colleague.username)
    assert body["outcome"] == "Seen, laser." and body["closed_at"]
    assert ReferralClosure.objects.get().examination == referred
    event = AuditEvent.objects.get(action="referral.close")
    assert (event.actor, event.patient) == (colleague, patient)
    assert event.detail == {"channel": "api", "through": referred.pk, "examinations": [older.pk, referred.pk]}
    # Closed now: a second closure is refused, and nothing more is saved.
    again = api.post(f"{EXAMS}{referred.pk}/referral/close/", {"outcome": "Again."}, format="json")
    assert again.status_code == 400 and "not open" in again.json()["non_field_errors"][0]
    assert ReferralClosure.objects.count() == 1


@pytest.mark.parametrize("data", [{"outcome": ""}, {"outcome": "   "}, {"outcome": "x" * 501}, {}])
def test_closing_a_referral_without_a_usable_outcome_is_a_400_on_the_field(api, colleague, patient, data) -> None:
    from screening.models import ReferralClosure

    referred = graded_examination(patient=patient, grades=(2, 0))
    api.force_authenticate(colleague)
    response = api.post(f"{EXAMS}{referred.pk}/referral/close/", data, format="json")
    assert response.status_code == 400 and set(response.json()) == {"outcome"}
    assert not ReferralClosure.objects.exists()
    assert not AuditEvent.objects.filter(action="referral.close").exists()


def test_staff_may_not_close_a_referral_and_a_rescreen_has_none_to_close(api, owner, colleague, patient) -> None:
    referred = graded_examination(patient=patient, grades=(2, 0))
    healthy = graded_examination(patient=patient, grades=(0, 0))
    api.force_authenticate(owner)
    refused = api.post(f"{EXAMS}{referred.pk}/referral/close/", {"outcome": "Seen."}, format="json")
    assert refused.status_code == 403
    api.force_authenticate(colleague)
    response = api.post(f"{EXAMS}{healthy.pk}/referral/close/", {"outcome": "Seen."}, format="json")
    assert response.status_code == 400 and "not open" in response.json()["non_field_errors"][0]
