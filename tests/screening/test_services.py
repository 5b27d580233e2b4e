from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage

from audit.models import AuditEvent
from screening import reviews, services
from screening.models import Examination, EyeImage, Prediction, Review, Status
from tests.examination_data import graded_examination
from tests.factories import PatientFactory

from .conftest import LEFT, RIGHT, upload

pytestmark = pytest.mark.django_db


def test_it_saves_a_queued_examination_with_both_photographs_hashed_and_checked(
    owner, patient, right_eye, left_eye, django_capture_on_commit_callbacks
) -> None:
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


def test_it_refuses_another_clinics_patient_and_saves_nothing(owner, other_clinic, right_eye, left_eye) -> None:
    stranger = PatientFactory.create(clinic=other_clinic)
    with pytest.raises(ValidationError) as caught:
        services.examination_create(user=owner, patient=stranger, right_eye=right_eye, left_eye=left_eye)
    assert caught.value.message_dict == {"patient": ["No such patient."]}
    assert Examination.objects.count() == 0
    assert EyeImage.objects.count() == 0


def test_a_clinic_admin_cannot_upload(clinic_admin, patient, right_eye, left_eye) -> None:
    with pytest.raises(PermissionDenied):
        services.examination_create(user=clinic_admin, patient=patient, right_eye=right_eye, left_eye=left_eye)


def test_a_failure_while_saving_leaves_no_rows_and_no_files(owner, patient, right_eye, left_eye, monkeypatch) -> None:
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


def test_one_file_for_both_eyes_is_refused_under_each_eye_and_nothing_saved(owner, patient) -> None:
    with pytest.raises(ValidationError) as caught:
        services.examination_create(
            user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=upload(RIGHT, name="left.jpg")
        )
    errors = caught.value.message_dict
    assert errors["right_eye"] == [
        "The same file was chosen for both eyes: choose the photograph of the right eye for the right eye. "
        "Nothing was saved."
    ]
    left = errors["left_eye"][0]
    assert left.startswith("The same file was chosen for both eyes") and "photograph of the left eye" in left
    assert Examination.objects.count() == 0 and EyeImage.objects.count() == 0


def test_the_same_pixels_in_two_files_for_both_eyes_are_refused(owner, patient) -> None:
    from PIL import Image

    from .conftest import image_upload

    # The right eye's JPEG, and its pixels saved losslessly as a PNG: two files, one photograph.
    png = image_upload(Image.open(RIGHT).convert("RGB"), "left.png", fmt="PNG")
    with pytest.raises(ValidationError) as caught:
        services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=png)
    for field in ("right_eye", "left_eye"):
        assert "hold the same photograph (identical pixels)" in caught.value.message_dict[field][0]
    assert Examination.objects.count() == 0


def test_it_warns_when_the_two_photographs_look_alike(owner, patient) -> None:
    from PIL import Image

    from .conftest import image_upload

    # The same photograph re-encoded: not the same pixels, but the same picture (a warning, as before).
    copy = image_upload(Image.open(RIGHT).convert("RGB"), "left.jpg", quality=80)
    examination = services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=copy)
    assert {eye.quality["pair_warning"] for eye in examination.images.all()} == {
        "The right and left photographs look like the same photograph."
    }


def test_a_picture_with_no_fundus_field_is_refused_under_its_eye_and_nothing_saved(owner, patient) -> None:
    from PIL import Image

    from .conftest import image_upload

    white = image_upload(Image.new("RGB", (1024, 768), (255, 255, 255)), "white.jpg")
    with pytest.raises(ValidationError) as caught:
        services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=white)
    errors = caught.value.message_dict
    assert set(errors) == {"left_eye"}
    assert errors["left_eye"][0].startswith("The left eye's picture is refused. Not a fundus photograph: ")
    assert errors["left_eye"][0].endswith("Nothing was saved.")
    assert Examination.objects.count() == 0 and EyeImage.objects.count() == 0


def test_a_blurred_fundus_photograph_is_filed_as_a_retake_not_refused(owner, patient) -> None:
    from PIL import Image, ImageFilter

    from .conftest import image_upload

    blurred = image_upload(Image.open(LEFT).convert("RGB").filter(ImageFilter.GaussianBlur(3)), "left.png", fmt="PNG")
    examination = services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=blurred)
    left = examination.images.get(side="left")
    assert left.gradable is False and any(r.startswith("Out of focus") for r in left.quality["reasons"])


def test_it_warns_when_the_left_photograph_mirrors_the_right(owner, patient) -> None:
    from PIL import Image, ImageOps

    from .conftest import image_upload

    mirrored = image_upload(ImageOps.mirror(Image.open(RIGHT)), "left.jpg", quality=92)
    examination = services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=mirrored)
    warning = examination.images.first().quality["pair_warning"]
    assert "mirror image" in warning


def test_a_real_pair_raises_no_pair_warning(owner, patient, right_eye, left_eye) -> None:
    examination = services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)
    assert all(eye.quality["pair_warning"] is None for eye in examination.images.all())


# --- entered in error ---------------------------------------------------------------------------------


def test_staff_mark_an_unreviewed_examination_entered_in_error_and_it_is_kept_and_audited(owner, patient) -> None:
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
def test_a_blank_or_overlong_reason_is_refused_and_nothing_is_saved(owner, patient, reason) -> None:
    examination = graded_examination(patient=patient)
    with pytest.raises(ValidationError) as caught:
        services.examination_void(user=owner, examination=examination, reason=reason)
    assert set(caught.value.message_dict) == {"reason"}
    assert not Examination.objects.get(pk=examination.pk).voided
    assert not AuditEvent.objects.filter(action="examination.void").exists()


def test_an_examination_is_marked_entered_in_error_once(owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    services.examination_void(user=owner, examination=examination, reason="Wrong photographs.")
    with pytest.raises(ValidationError, match="already been marked as entered in error"):
        services.examination_void(user=colleague, examination=examination, reason="Wrong patient.")
    stored = Examination.objects.get(pk=examination.pk)
    assert (stored.voided_by, stored.void_reason) == (owner, "Wrong photographs.")


def test_staff_cannot_void_a_signed_off_examination_but_a_doctor_can(owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    with pytest.raises(PermissionDenied, match="only a doctor"):
        services.examination_void(user=owner, examination=examination, reason="Wrong patient.")
    assert not Examination.objects.get(pk=examination.pk).voided
    services.examination_void(user=colleague, examination=examination, reason="Wrong patient.")
    assert Examination.objects.get(pk=examination.pk).voided_by == colleague
    assert Review.objects.filter(examination=examination).exists()  # the review is kept too


def test_only_the_patients_clinic_can_void_an_examination(outsider, clinic_admin, patient) -> None:
    examination = graded_examination(patient=patient)
    for user in (outsider, clinic_admin):
        with pytest.raises(PermissionDenied):
            services.examination_void(user=user, examination=examination, reason="Wrong patient.")
    assert not Examination.objects.get(pk=examination.pk).voided
