"""The very pair of photographs already filed in the clinic is refused: pressing Predict again after the
browser's Back (or uploading the same files twice) made a second examination of one visit."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from audit.models import AuditEvent
from screening import services
from screening.models import Examination, EyeImage, Status
from screening.validation import pixel_sha256
from tests.factories import PatientFactory
from tests.ops.broker import drain_task_messages

from .conftest import LEFT, RIGHT, retake, upload

pytestmark = pytest.mark.django_db


def _create(user, patient, right=RIGHT, left=LEFT):
    return services.examination_create(user=user, patient=patient, right_eye=upload(right), left_eye=upload(left))


def test_the_same_pair_for_the_same_patient_is_refused_and_nothing_saved(owner, patient) -> None:
    first = _create(owner, patient)
    with pytest.raises(ValidationError) as caught:
        _create(owner, patient)
    message = caught.value.message_dict["__all__"][0]
    assert "already uploaded for this patient" in message and f"(examination {first.pk})" in message
    assert Examination.objects.count() == 1 and EyeImage.objects.count() == 2


def test_the_same_pair_under_another_patient_names_the_examination_and_audits_the_disclosure(
    owner, patient, clinic
) -> None:
    other = PatientFactory.create(clinic=clinic, medical_record_number="OTHER-1", first_name="Ann", last_name="Other")
    earlier = _create(owner, other)
    with pytest.raises(ValidationError) as caught:
        _create(owner, patient)
    message = caught.value.message_dict["__all__"][0]
    assert f"already filed under another patient of this clinic (examination {earlier.pk}, " in message
    assert not {"Other", "Ann", "OTHER-1"} & set(message.replace(",", " ").replace("(", " ").split())
    # What the refusal told is on the trail, as a read of that examination (of the other patient), and it
    # stays although the upload's own transaction rolled back.
    event = AuditEvent.objects.get(action="examination.view")
    assert (event.actor, event.object_id, event.patient_id) == (owner, str(earlier.pk), other.pk)
    assert event.detail == {"refused": "duplicate_pair", "upload_for": patient.pk}


def test_the_refusals_of_the_page_and_the_api_link_and_audit_the_examination(client, owner, patient, clinic) -> None:
    other = PatientFactory.create(clinic=clinic, last_name="Other")
    earlier = _create(owner, other)
    client.force_login(owner)
    url = reverse("screening:upload", args=[patient.pk])
    page = client.post(url, {"right_eye": upload(RIGHT), "left_eye": upload(LEFT), "notes": ""})
    assert page.status_code == 400
    assert f'href="{reverse("screening:detail", args=[earlier.pk])}"' in page.content.decode()
    assert "Other" not in page.content.decode()
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post(
        "/api/v1/examinations/", {"patient": patient.pk, "right_eye": upload(RIGHT), "left_eye": upload(LEFT)}
    )
    assert response.status_code == 400 and f"(examination {earlier.pk}, " in str(response.json())
    events = AuditEvent.objects.filter(action="examination.view", patient=other).order_by("id")
    assert [event.detail.get("channel") for event in events] == [None, "api"]


def test_a_pair_whose_examination_was_entered_in_error_may_be_filed_again(owner, patient, clinic) -> None:
    wrong = PatientFactory.create(clinic=clinic)
    mistake = _create(owner, wrong)
    services.examination_void(user=owner, examination=mistake, reason="Uploaded under the wrong patient.")
    assert _create(owner, patient).patient == patient


def test_a_retake_of_one_eye_beside_the_same_other_eye_is_a_new_examination(owner, patient) -> None:
    _create(owner, patient)
    services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=retake(LEFT))
    assert Examination.objects.filter(patient=patient).count() == 2


def test_the_same_pair_with_the_eyes_swapped_is_refused_as_a_swap(owner, patient, clinic) -> None:
    first = _create(owner, patient)
    with pytest.raises(ValidationError) as caught:
        _create(owner, patient, right=LEFT, left=RIGHT)
    message = caught.value.message_dict["__all__"][0]
    assert "for this patient on" in message and f"(examination {first.pk})" in message
    assert "the other way round" in message and "eyes swapped" in message
    other = PatientFactory.create(clinic=clinic, medical_record_number="OTHER-2", last_name="Other")
    with pytest.raises(ValidationError, match=r"another patient of this clinic \(.*the other way round"):
        _create(owner, other, right=LEFT, left=RIGHT)
    assert Examination.objects.count() == 1


def test_a_swapped_pair_may_be_filed_once_the_wrong_examination_is_entered_in_error(owner, patient) -> None:
    wrong = _create(owner, patient)
    services.examination_void(user=owner, examination=wrong, reason="Right and left eye swapped.")
    assert _create(owner, patient, right=LEFT, left=RIGHT).patient == patient


def test_another_clinic_holding_the_pair_is_neither_refused_nor_named(owner, outsider, patient, other_clinic) -> None:
    _create(outsider, PatientFactory.create(clinic=other_clinic))
    assert _create(owner, patient).patient == patient


def test_the_upload_page_shows_the_refusal(client, owner, patient) -> None:
    _create(owner, patient)
    client.force_login(owner)
    url = reverse("screening:upload", args=[patient.pk])
    response = client.post(url, {"right_eye": upload(RIGHT), "left_eye": upload(LEFT), "notes": ""})
    assert response.status_code == 400
    assert "already uploaded for this patient" in response.content.decode()
    assert Examination.objects.count() == 1


def test_the_pair_of_a_failed_examination_may_be_filed_again(owner, patient) -> None:
    failed = _create(owner, patient)
    Examination.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    # Grading never produced a result to open: the same photographs make a new examination.
    assert _create(owner, patient).pk != failed.pk


@pytest.mark.django_db(transaction=True)
def test_one_pair_sent_several_times_at_once_is_filed_once(owner, colleague, patient) -> None:
    start, outcomes = threading.Barrier(4), []

    def send(user) -> None:
        right, left = upload(RIGHT), upload(LEFT)
        try:
            start.wait(timeout=10)
            outcomes.append(_create_from(user, patient, right, left))
        except ValidationError as error:
            outcomes.append(error.message_dict["__all__"][0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(user,)) for user in (owner, colleague, owner, colleague)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drain_task_messages("inference")
    filed = [o for o in outcomes if isinstance(o, Examination)]
    assert len(outcomes) == 4 and len(filed) == 1
    assert all("already uploaded for this patient" in o for o in outcomes if isinstance(o, str))
    assert Examination.objects.count() == 1 and EyeImage.objects.count() == 2


def _create_from(user, patient, right, left):
    return services.examination_create(user=user, patient=patient, right_eye=right, left_eye=left)


def _resaved(path: Path, metadata: bytes) -> SimpleUploadedFile:
    """The same JPEG's bytes with a metadata segment inserted (an APP1 like a padded EXIF block): another
    file, the same pixels, as a viewer or a PACS re-saving a photograph writes it."""
    data = path.read_bytes()
    segment = b"\xff\xe1" + (len(metadata) + 2).to_bytes(2, "big") + metadata
    return SimpleUploadedFile(path.name, data[:2] + segment + data[2:], content_type="image/jpeg")


def test_the_same_pixels_with_other_metadata_are_the_pair_on_file(owner, patient) -> None:
    first = _create(owner, patient)
    right, left = _resaved(RIGHT, b"Exif\x00\x00" + b"\x00" * 600), _resaved(LEFT, b"padding " * 50)
    assert hashlib.sha256(right.read()).hexdigest() != first.images.get(side="right").sha256  # another file
    with pytest.raises(ValidationError, match=f"already uploaded for this patient .*examination {first.pk}"):
        services.examination_create(user=owner, patient=patient, right_eye=right, left_eye=left)
    assert Examination.objects.count() == 1


def test_each_photograph_keeps_the_hash_of_its_pixels(owner, patient) -> None:
    examination = _create(owner, patient)
    for eye in examination.images.all():
        with Image.open(eye.file.path) as stored:
            assert eye.pixel_sha256 == pixel_sha256(stored)
    # A photograph in another file format with the same pixels has the same pixel hash.
    png = io.BytesIO()
    Image.open(RIGHT).save(png, "PNG")
    assert pixel_sha256(Image.open(png)) == examination.images.get(side="right").pixel_sha256
