"""Reviews and their amendments (screening/reviews.py): who may sign off and amend, what is kept, what is audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from screening import reviews, services
from screening.models import Examination, Review, ReviewGrade, ReviewRevision, Status
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db


def _done(examination: Examination) -> Examination:
    Examination.objects.filter(pk=examination.pk).update(status=Status.DONE)
    examination.refresh_from_db()
    return examination


def test_a_doctor_reviews_a_graded_examination(owner, colleague, patient, right_eye, left_eye) -> None:
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    review = reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0, notes="ok")
    assert (review.right_grade, review.left_grade, review.doctor) == (1, 0, colleague)
    assert review.signed_off_at is not None


def test_staff_cannot_review(owner, patient, right_eye, left_eye) -> None:
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    with pytest.raises(PermissionDenied):
        reviews.review_create(user=owner, examination=examination, right_grade=0, left_grade=0)
    assert Review.objects.count() == 0


def test_a_doctor_of_another_clinic_cannot_review(owner, outsider, patient, right_eye, left_eye) -> None:
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    with pytest.raises(PermissionDenied):
        reviews.review_create(user=outsider, examination=examination, right_grade=0, left_grade=0)


def test_an_examination_not_yet_graded_cannot_be_reviewed(owner, colleague, patient, right_eye, left_eye) -> None:
    examination = services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    with pytest.raises(ValidationError, match="Only a graded examination"):
        reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)


def test_an_examination_is_reviewed_once_and_grades_must_exist(owner, colleague, patient, right_eye, left_eye) -> None:
    examination = _done(
        services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    )
    with pytest.raises(ValidationError) as caught:
        reviews.review_create(user=colleague, examination=examination, right_grade=7, left_grade=0)
    assert "right_grade" in caught.value.message_dict
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    with pytest.raises(ValidationError, match="already been reviewed"):
        reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=1)


def test_a_sign_off_is_audited_by_the_service_itself(colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    review = reviews.review_create(
        user=colleague, examination=examination, right_grade=1, left_grade=0, audit_detail={"channel": "api"}
    )
    event = AuditEvent.objects.get(action="review.create")
    assert (event.actor, event.object_id, event.patient) == (colleague, str(review.pk), patient)
    assert event.detail == {"channel": "api"}


def test_a_refused_sign_off_is_not_audited(owner, patient) -> None:
    examination = graded_examination(patient=patient)
    with pytest.raises(PermissionDenied):
        reviews.review_create(user=owner, examination=examination, right_grade=0, left_grade=0)
    assert not AuditEvent.objects.filter(action="review.create").exists()


def test_a_voided_examination_cannot_be_reviewed(owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    services.examination_void(user=owner, examination=examination, reason="Wrong patient.")
    with pytest.raises(ValidationError, match="entered in error"):
        reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    assert not Review.objects.exists()


# --- amending a review ------------------------------------------------------------------------------------


def _signed_off(patient, doctor, grades: tuple[int, int] = (0, 0), notes: str = "Clear fundi.") -> Examination:
    examination = graded_examination(patient=patient, grades=grades)
    reviews.review_create(
        user=doctor, examination=examination, right_grade=grades[0], left_grade=grades[1], notes=notes
    )
    return examination


def _amend(examination: Examination, user, **changes: object) -> Review:
    review = Review.objects.get(examination=examination)
    values = {"right_grade": review.right_grade, "left_grade": review.left_grade, "notes": review.notes}
    values |= {"reason": "A second look at the photographs.", **changes}
    return reviews.review_amend(user=user, examination=examination, **values)


@pytest.fixture
def second_doctor(clinic):
    from patients.models import Role
    from tests.factories import member

    return member(clinic=clinic, role=Role.DOCTOR, username="second")


def test_a_doctor_amends_a_grade_and_the_signed_off_version_is_kept_and_audited(
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


def test_the_notes_alone_can_be_amended(colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    _amend(examination, colleague, notes=" Clear fundi; drusen at the left macula. ")
    assert Review.objects.get().notes == "Clear fundi; drusen at the left macula."
    assert AuditEvent.objects.get(action="review.amend").detail["changed"] == ["notes"]


@pytest.mark.parametrize("reason", ["", "   \n ", "x" * 501])
def test_an_amendment_without_a_reason_or_with_an_overlong_one_is_refused_and_nothing_is_saved(
    colleague, patient, reason
) -> None:
    examination = _signed_off(patient, colleague)
    with pytest.raises(ValidationError) as caught:
        _amend(examination, colleague, right_grade=2, reason=reason)
    assert set(caught.value.message_dict) == {"reason"}
    assert Review.objects.get().right_grade == 0
    assert not ReviewRevision.objects.exists()
    assert not AuditEvent.objects.filter(action="review.amend").exists()


def test_bad_grades_and_a_blank_reason_are_reported_together(colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    with pytest.raises(ValidationError) as caught:
        _amend(examination, colleague, right_grade=7, reason="")
    assert set(caught.value.message_dict) == {"right_grade", "reason"}
    assert not ReviewRevision.objects.exists()


def test_an_amendment_that_changes_nothing_is_refused(colleague, patient) -> None:
    examination = _signed_off(patient, colleague, notes="Clear fundi.")
    with pytest.raises(ValidationError, match="Nothing to amend"):
        _amend(examination, colleague, notes="  Clear fundi.  ")  # the same once trimmed
    assert not ReviewRevision.objects.exists()
    assert Review.objects.get().amended_at is None


def test_an_examination_not_signed_off_has_no_review_to_amend(colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    with pytest.raises(ValidationError, match="not been signed off yet"):
        reviews.review_amend(
            user=colleague, examination=examination, right_grade=1, left_grade=0, notes="", reason="Slip."
        )
    assert not Review.objects.exists() and not ReviewRevision.objects.exists()


def test_the_review_of_an_examination_entered_in_error_cannot_be_amended(colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    services.examination_void(user=colleague, examination=examination, reason="Wrong patient.")
    with pytest.raises(ValidationError, match="entered in error; its review cannot be amended"):
        _amend(examination, colleague, right_grade=1)
    assert Review.objects.get().right_grade == 0 and not ReviewRevision.objects.exists()


def test_only_doctors_of_the_patients_clinic_amend_a_review(owner, colleague, outsider, clinic_admin, patient) -> None:
    examination = _signed_off(patient, colleague)
    for user, words in ((owner, "Only doctors"), (clinic_admin, "Only doctors"), (outsider, "patient's clinic")):
        with pytest.raises(PermissionDenied, match=words):
            _amend(examination, user, right_grade=1)
    assert Review.objects.get().right_grade == 0 and not ReviewRevision.objects.exists()


def test_two_successive_amendments_keep_both_earlier_versions_in_order(colleague, second_doctor, patient) -> None:
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


def test_an_amendment_made_against_a_version_a_colleague_has_since_replaced_is_refused(
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


def test_the_database_refuses_to_change_or_delete_an_earlier_version(colleague, patient) -> None:
    from django.db import DatabaseError, transaction

    _amend(_signed_off(patient, colleague), colleague, right_grade=1)
    revision = ReviewRevision.objects.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ReviewRevision.objects.filter(pk=revision.pk).update(reason="Rewritten history.")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ReviewRevision.objects.filter(pk=revision.pk).delete()
    assert ReviewRevision.objects.get().reason == "A second look at the photographs."


# --- Ungradable ----------------------------------------------------------------------------------------


def test_a_doctor_signs_an_eye_off_as_ungradable_and_the_answer_becomes_a_retake(colleague, patient) -> None:
    from screening.selectors import examination_summary, with_results

    examination = graded_examination(patient=patient, grades=(2, 0))
    review = reviews.review_create(
        user=colleague, examination=examination, right_grade=ReviewGrade.UNGRADABLE, left_grade=0
    )
    assert Review.objects.get(pk=review.pk).right_grade == ReviewGrade.UNGRADABLE
    summary = examination_summary(with_results(Examination.objects.filter(pk=examination.pk)).get())
    assert (summary["answer"].key, summary["answer"].source) == ("retake", "doctor")
    assert summary["answer"].model_suggestion.key == "refer"
    assert summary["eyes"]["right"]["reviewed_label"] == "Ungradable"


def test_an_amendment_may_make_an_eye_ungradable_and_back_and_keeps_the_earlier_version(colleague, patient) -> None:
    examination = _signed_off(patient, colleague)
    _amend(examination, colleague, left_grade=ReviewGrade.UNGRADABLE)
    assert Review.objects.get().left_grade == ReviewGrade.UNGRADABLE
    _amend(examination, colleague, left_grade=1, reason="It could be graded after all.")
    assert [revision.left_grade for revision in ReviewRevision.objects.order_by("amended_at", "id")] == [
        0,
        ReviewGrade.UNGRADABLE,
    ]


def test_the_database_refuses_a_review_grade_that_is_neither_a_class_nor_ungradable(colleague, patient) -> None:
    from django.db import IntegrityError, transaction

    examination = _signed_off(patient, colleague)
    with pytest.raises(IntegrityError, match="review_grades_valid"), transaction.atomic():
        Review.objects.filter(examination=examination).update(right_grade=3)
    with pytest.raises(ValidationError, match="Ungradable"):
        reviews.review_create(
            user=colleague, examination=graded_examination(patient=patient), right_grade=3, left_grade=0
        )


def test_an_examination_a_doctor_found_ungradable_is_not_due_for_rescreening(colleague, patient) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from patients.models import Patient
    from screening.selectors import due_for_rescreening

    examination = graded_examination(patient=patient, grades=(0, 0))
    Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - timedelta(days=400))
    clinic = Patient.objects.filter(clinic=patient.clinic)
    assert list(due_for_rescreening(patients=clinic)) == [patient]
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=ReviewGrade.UNGRADABLE)
    assert list(due_for_rescreening(patients=clinic)) == []  # a retake is owed, not a rescreening next year
