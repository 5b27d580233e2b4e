from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage

from audit.models import AuditEvent
from screening import reviews, services
from screening.models import Examination, EyeImage, Prediction, Review, ReviewRevision, Status
from tests.examination_data import graded_examination
from tests.factories import PatientFactory

from .conftest import LEFT, RIGHT, upload

pytestmark = pytest.mark.django_db


def test_it_saves_a_queued_examination_with_both_photographs_hashed_and_checked(
    owner, patient, right_eye, left_eye, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        examination = services.examination_create(
            user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye, notes=" first visit "
        )
    assert examination.status == Status.QUEUED
    assert examination.notes == "first visit"
    assert examination.enqueued_at is not None
    assert len(callbacks) == 1  # the grading task is sent once the upload commits, not before
    eyes = {eye.side: eye for eye in examination.images.all()}
    assert set(eyes) == {"right", "left"}
    import hashlib

    assert eyes["right"].sha256 == hashlib.sha256(RIGHT.read_bytes()).hexdigest()
    assert eyes["left"].sha256 == hashlib.sha256(LEFT.read_bytes()).hexdigest()
    assert eyes["right"].format == "JPEG"
    assert (eyes["right"].width, eyes["right"].height) == (256, 171)
    assert eyes["right"].gradable is True
    assert eyes["right"].quality["reasons"] == []
    assert default_storage.exists(eyes["right"].file.name)
    assert eyes["right"].file.name.startswith("eyes/")


def test_it_refuses_another_clinics_patient_and_saves_nothing(owner, other_clinic, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    stranger = PatientFactory(clinic=other_clinic)
    with pytest.raises(ValidationError) as caught:
        services.examination_create(user=owner, patient=stranger, right_eye=right_eye, left_eye=left_eye)
    assert caught.value.message_dict == {"patient": ["No such patient."]}
    assert Examination.objects.count() == 0
    assert EyeImage.objects.count() == 0


def test_a_clinic_admin_cannot_upload(clinic_admin, patient, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        services.examination_create(user=clinic_admin, patient=patient, right_eye=right_eye, left_eye=left_eye)


def test_a_failure_while_saving_leaves_no_rows_and_no_files(owner, patient, right_eye, left_eye, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(examination: Examination) -> None:
        raise RuntimeError("broker exploded")

    monkeypatch.setattr(services, "examination_enqueue", broken)
    before = set(default_storage.listdir("eyes")[0]) if default_storage.exists("eyes") else set()
    with pytest.raises(RuntimeError):
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    assert Examination.objects.count() == 0
    after = set(default_storage.listdir("eyes")[0]) if default_storage.exists("eyes") else set()
    for folder in after - before:
        assert default_storage.listdir(f"eyes/{folder}")[1] == []


def test_it_warns_when_the_two_photographs_are_one_file(owner, patient) -> None:  # type: ignore[no-untyped-def]
    examination = services.examination_create(
        user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=upload(RIGHT, name="left.jpg")
    )
    assert {eye.quality["pair_warning"] for eye in examination.images.all()} == {
        "The right and left photographs are the same file."
    }


def test_it_warns_when_the_left_photograph_mirrors_the_right(owner, patient) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image, ImageOps

    from .conftest import image_upload

    mirrored = image_upload(ImageOps.mirror(Image.open(RIGHT)), "left.jpg", quality=92)
    examination = services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=mirrored)
    warning = examination.images.first().quality["pair_warning"]
    assert "mirror image" in warning


def test_a_real_pair_raises_no_pair_warning(owner, patient, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    examination = services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    assert all(eye.quality["pair_warning"] is None for eye in examination.images.all())


def _done(examination: Examination) -> Examination:
    Examination.objects.filter(pk=examination.pk).update(status=Status.DONE)
    examination.refresh_from_db()
    return examination


def test_a_doctor_reviews_a_graded_examination(owner, colleague, patient, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    review = reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0, notes="ok")
    assert (review.right_grade, review.left_grade, review.doctor) == (1, 0, colleague)
    assert review.signed_off_at is not None


def test_staff_cannot_review(owner, patient, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    with pytest.raises(PermissionDenied):
        reviews.review_create(user=owner, examination=examination, right_grade=0, left_grade=0)
    assert Review.objects.count() == 0


def test_a_doctor_of_another_clinic_cannot_review(owner, outsider, patient, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    with pytest.raises(PermissionDenied):
        reviews.review_create(user=outsider, examination=examination, right_grade=0, left_grade=0)


def test_an_examination_not_yet_graded_cannot_be_reviewed(owner, colleague, patient, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    examination = services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    with pytest.raises(ValidationError, match="Only a graded examination"):
        reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)


def test_an_examination_is_reviewed_once_and_grades_must_exist(owner, colleague, patient, right_eye, left_eye) -> None:  # type: ignore[no-untyped-def]
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    with pytest.raises(ValidationError) as caught:
        reviews.review_create(user=colleague, examination=examination, right_grade=7, left_grade=0)
    assert "right_grade" in caught.value.message_dict
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    with pytest.raises(ValidationError, match="already been reviewed"):
        reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=1)


# --- entered in error ---------------------------------------------------------------------------------


def test_staff_mark_an_unreviewed_examination_entered_in_error_and_it_is_kept_and_audited(owner, patient) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    voided = services.examination_void(user=owner, examination=examination, reason="  Wrong patient.  ")
    stored = Examination.objects.get(pk=examination.pk)
    assert (stored.void_reason, stored.voided_by, stored.voided) == ("Wrong patient.", owner, True)
    assert stored.voided_at is not None and voided.voided_at == stored.voided_at
    # The record is kept: photographs and predictions stay.
    assert EyeImage.objects.filter(examination=stored).count() == 2
    assert Prediction.objects.filter(eye_image__examination=stored).count() == 2
    event = AuditEvent.objects.get(action="examination.void")
    assert (event.actor, event.patient, event.object_id) == (owner, patient, str(examination.pk))
    # No free text in the trail: the reason is on the examination only.
    assert event.detail == {"status": "done", "reviewed": False}


@pytest.mark.parametrize("reason", ["", "   \n ", "x" * 501])
def test_a_blank_or_overlong_reason_is_refused_and_nothing_is_saved(owner, patient, reason) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    with pytest.raises(ValidationError) as caught:
        services.examination_void(user=owner, examination=examination, reason=reason)
    assert set(caught.value.message_dict) == {"reason"}
    assert not Examination.objects.get(pk=examination.pk).voided
    assert not AuditEvent.objects.filter(action="examination.void").exists()


def test_an_examination_is_marked_entered_in_error_once(owner, colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    services.examination_void(user=owner, examination=examination, reason="Wrong photographs.")
    with pytest.raises(ValidationError, match="already been marked as entered in error"):
        services.examination_void(user=colleague, examination=examination, reason="Wrong patient.")
    stored = Examination.objects.get(pk=examination.pk)
    assert (stored.voided_by, stored.void_reason) == (owner, "Wrong photographs.")


def test_staff_cannot_void_a_signed_off_examination_but_a_doctor_can(owner, colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    with pytest.raises(PermissionDenied, match="only a doctor"):
        services.examination_void(user=owner, examination=examination, reason="Wrong patient.")
    assert not Examination.objects.get(pk=examination.pk).voided
    services.examination_void(user=colleague, examination=examination, reason="Wrong patient.")
    assert Examination.objects.get(pk=examination.pk).voided_by == colleague
    assert Review.objects.filter(examination=examination).exists()  # the review is kept too


def test_only_the_patients_clinic_can_void_an_examination(outsider, clinic_admin, patient) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    for user in (outsider, clinic_admin):
        with pytest.raises(PermissionDenied):
            services.examination_void(user=user, examination=examination, reason="Wrong patient.")
    assert not Examination.objects.get(pk=examination.pk).voided


def test_a_voided_examination_cannot_be_reviewed(owner, colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    services.examination_void(user=owner, examination=examination, reason="Wrong patient.")
    with pytest.raises(ValidationError, match="entered in error"):
        reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    assert not Review.objects.exists()


# --- amending a review ------------------------------------------------------------------------------------


def _signed_off(patient, doctor, grades: tuple[int, int] = (0, 0), notes: str = "Clear fundi.") -> Examination:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient, grades=grades)
    reviews.review_create(
        user=doctor, examination=examination, right_grade=grades[0], left_grade=grades[1], notes=notes
    )
    return examination


def _amend(examination: Examination, user, **changes: object) -> Review:  # type: ignore[no-untyped-def]
    review = Review.objects.get(examination=examination)
    values = {"right_grade": review.right_grade, "left_grade": review.left_grade, "notes": review.notes}
    values |= {"reason": "A second look at the photographs.", **changes}
    return reviews.review_amend(user=user, examination=examination, **values)  # type: ignore[arg-type]


@pytest.fixture
def second_doctor(clinic):  # type: ignore[no-untyped-def]
    from patients.models import Role
    from tests.factories import member

    return member(clinic=clinic, role=Role.DOCTOR, username="second")


def test_a_doctor_amends_a_grade_and_the_signed_off_version_is_kept_and_audited(  # type: ignore[no-untyped-def]
    colleague, second_doctor, patient
) -> None:
    examination = _signed_off(patient, colleague)
    original = Review.objects.get(examination=examination)
    _amend(examination, second_doctor, right_grade=1, reason="  Microaneurysms missed at sign-off.  ")

    review = Review.objects.get(examination=examination)
    assert (review.right_grade, review.left_grade, review.notes) == (1, 0, "Clear fundi.")
    # The review holds the current version, signed by who amended it, now.
    assert review.doctor == second_doctor and review.amended_at == review.signed_off_at > original.signed_off_at
    revision = ReviewRevision.objects.get()
    assert (revision.review, revision.right_grade, revision.left_grade, revision.notes) == (
        review,
        0,
        0,
        "Clear fundi.",
    )
    assert (revision.doctor, revision.signed_off_at) == (colleague, original.signed_off_at)
    assert (revision.amended_by, revision.amended_at) == (second_doctor, review.amended_at)
    assert revision.reason == "Microaneurysms missed at sign-off."
    event = AuditEvent.objects.get(action="review.amend")
    assert (event.actor, event.patient, event.object_type) == (second_doctor, patient, "review")
    # The names of what changed, never the values or the reason's text.
    assert event.detail == {"changed": ["right_grade"], "revision": revision.pk}


def test_the_notes_alone_can_be_amended(colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = _signed_off(patient, colleague)
    _amend(examination, colleague, notes=" Clear fundi; drusen at the left macula. ")
    assert Review.objects.get().notes == "Clear fundi; drusen at the left macula."
    assert AuditEvent.objects.get(action="review.amend").detail["changed"] == ["notes"]


@pytest.mark.parametrize("reason", ["", "   \n ", "x" * 501])
def test_an_amendment_without_a_reason_or_with_an_overlong_one_is_refused_and_nothing_is_saved(  # type: ignore[no-untyped-def]
    colleague, patient, reason
) -> None:
    examination = _signed_off(patient, colleague)
    with pytest.raises(ValidationError) as caught:
        _amend(examination, colleague, right_grade=2, reason=reason)
    assert set(caught.value.message_dict) == {"reason"}
    assert Review.objects.get().right_grade == 0
    assert not ReviewRevision.objects.exists()
    assert not AuditEvent.objects.filter(action="review.amend").exists()


def test_bad_grades_and_a_blank_reason_are_reported_together(colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = _signed_off(patient, colleague)
    with pytest.raises(ValidationError) as caught:
        _amend(examination, colleague, right_grade=7, reason="")
    assert set(caught.value.message_dict) == {"right_grade", "reason"}
    assert not ReviewRevision.objects.exists()


def test_an_amendment_that_changes_nothing_is_refused(colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = _signed_off(patient, colleague, notes="Clear fundi.")
    with pytest.raises(ValidationError, match="Nothing to amend"):
        _amend(examination, colleague, notes="  Clear fundi.  ")  # the same once trimmed
    assert not ReviewRevision.objects.exists()
    assert Review.objects.get().amended_at is None


def test_an_examination_not_signed_off_has_no_review_to_amend(colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    with pytest.raises(ValidationError, match="not been signed off yet"):
        reviews.review_amend(
            user=colleague, examination=examination, right_grade=1, left_grade=0, notes="", reason="Slip."
        )
    assert not Review.objects.exists() and not ReviewRevision.objects.exists()


def test_the_review_of_an_examination_entered_in_error_cannot_be_amended(colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = _signed_off(patient, colleague)
    services.examination_void(user=colleague, examination=examination, reason="Wrong patient.")
    with pytest.raises(ValidationError, match="entered in error; its review cannot be amended"):
        _amend(examination, colleague, right_grade=1)
    assert Review.objects.get().right_grade == 0 and not ReviewRevision.objects.exists()


def test_only_doctors_of_the_patients_clinic_amend_a_review(  # type: ignore[no-untyped-def]
    owner, colleague, outsider, clinic_admin, patient
) -> None:
    examination = _signed_off(patient, colleague)
    for user, words in ((owner, "Only doctors"), (clinic_admin, "Only doctors"), (outsider, "patient's clinic")):
        with pytest.raises(PermissionDenied, match=words):
            _amend(examination, user, right_grade=1)
    assert Review.objects.get().right_grade == 0 and not ReviewRevision.objects.exists()


def test_two_successive_amendments_keep_both_earlier_versions_in_order(colleague, second_doctor, patient) -> None:  # type: ignore[no-untyped-def]
    examination = _signed_off(patient, colleague, grades=(0, 0))
    _amend(examination, second_doctor, right_grade=1, reason="First second look.")
    _amend(examination, colleague, right_grade=2, left_grade=1, reason="Second second look.")

    review = Review.objects.get()
    assert (review.right_grade, review.left_grade, review.doctor) == (2, 1, colleague)
    first, second = ReviewRevision.objects.order_by("amended_at", "id")
    assert (first.right_grade, first.left_grade, first.doctor, first.amended_by) == (0, 0, colleague, second_doctor)
    assert (second.right_grade, second.left_grade, second.doctor, second.amended_by) == (1, 0, second_doctor, colleague)
    assert second.signed_off_at == first.amended_at  # the version the second amendment replaced is the first's
    assert [e.detail["changed"] for e in AuditEvent.objects.filter(action="review.amend").order_by("id")] == [
        ["right_grade"],
        ["right_grade", "left_grade"],
    ]


def test_an_amendment_made_against_a_version_a_colleague_has_since_replaced_is_refused(  # type: ignore[no-untyped-def]
    colleague, second_doctor, patient
) -> None:
    # Both doctors opened the page on the signed-off review (no earlier versions); the second amends first.
    examination = _signed_off(patient, colleague, grades=(0, 0))
    _amend(examination, second_doctor, right_grade=1, revisions_seen=0, reason="Microaneurysms.")
    with pytest.raises(reviews.StaleAmendment, match="amended by second at"):
        _amend(examination, colleague, left_grade=2, revisions_seen=0, reason="Another look.")
    review = Review.objects.get()
    assert (review.right_grade, review.left_grade, review.doctor) == (1, 0, second_doctor)
    assert ReviewRevision.objects.count() == 1 and AuditEvent.objects.filter(action="review.amend").count() == 1
    # Having seen the current version (one earlier one), the colleague's amendment goes through.
    _amend(examination, colleague, left_grade=2, revisions_seen=1, reason="Another look.")
    assert Review.objects.get().left_grade == 2 and ReviewRevision.objects.count() == 2


def test_the_database_refuses_to_change_or_delete_an_earlier_version(colleague, patient) -> None:  # type: ignore[no-untyped-def]
    from django.db import DatabaseError, transaction

    _amend(_signed_off(patient, colleague), colleague, right_grade=1)
    revision = ReviewRevision.objects.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ReviewRevision.objects.filter(pk=revision.pk).update(reason="Rewritten history.")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ReviewRevision.objects.filter(pk=revision.pk).delete()
    assert ReviewRevision.objects.get().reason == "A second look at the photographs."
