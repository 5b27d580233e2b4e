"""Bad uploads, through the service and the web form: each refused with a message, nothing saved."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from screening import services
from screening.models import Examination, EyeImage
from screening.validation import check_upload
from tests.factories import PatientFactory

from .conftest import LEFT, RIGHT, image_upload, upload

pytestmark = pytest.mark.django_db


def _text_as_jpeg() -> SimpleUploadedFile:
    return SimpleUploadedFile("eye.jpg", b"this is not a photograph\n" * 10, content_type="image/jpeg")


def _truncated_jpeg() -> SimpleUploadedFile:
    data = RIGHT.read_bytes()
    return SimpleUploadedFile("eye.jpg", data[: len(data) // 2], content_type="image/jpeg")


def _empty() -> SimpleUploadedFile:
    return SimpleUploadedFile("eye.jpg", b"", content_type="image/jpeg")


def _gif() -> SimpleUploadedFile:
    return image_upload(Image.open(RIGHT).convert("P"), "eye.gif", fmt="GIF")


def _bomb() -> SimpleUploadedFile:
    """A valid PNG header claiming 50000 x 50000 pixels (2.5 gigapixels) with a tiny compressed body."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * (50_001 * 64), 9)  # rows of zeros compress to almost nothing
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    return SimpleUploadedFile("eye.png", png, content_type="image/png")


BAD_UPLOADS = {
    "text named .jpg": (_text_as_jpeg, "is not a readable JPEG, PNG or DICOM photograph"),
    "truncated jpeg": (_truncated_jpeg, "is not a readable JPEG, PNG or DICOM photograph"),
    "empty file": (_empty, "file is empty"),
    "decompression bomb": (_bomb, "image is too large"),
    "gif": (_gif, "is a GIF image; only JPEG, PNG and DICOM are accepted"),
}


def _nothing_saved() -> None:
    assert Examination.objects.count() == 0
    assert EyeImage.objects.count() == 0


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_the_service_refuses_a_bad_photograph_with_a_message_for_that_eye(owner, patient, case: str) -> None:
    from django.core.exceptions import ValidationError

    make, message = BAD_UPLOADS[case]
    with pytest.raises(ValidationError) as caught:
        services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=make())
    errors = caught.value.message_dict
    assert list(errors) == ["left_eye"]
    assert message in errors["left_eye"][0]
    assert errors["left_eye"][0].startswith("The left eye")
    _nothing_saved()


def _post(client, patient, **files: object):
    url = reverse("screening:upload", kwargs={"patient_id": patient.pk})
    return client.post(url, {"notes": "", **files})


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_the_form_shows_the_message_beside_the_field_and_saves_nothing(client, owner, patient, case: str) -> None:
    make, message = BAD_UPLOADS[case]
    client.force_login(owner)
    response = _post(client, patient, right_eye=make(), left_eye=upload(LEFT))
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["right_eye"]
    assert message in form.errors["right_eye"][0]
    assert 'id="right_eye-errors"' in response.content.decode()
    _nothing_saved()


def test_one_eye_missing_is_refused_beside_that_zone(client, owner, patient) -> None:
    client.force_login(owner)
    response = _post(client, patient, right_eye=upload(RIGHT))
    assert response.status_code == 400
    assert response.context["form"].errors == {"left_eye": ["Choose a photograph of the left eye."]}
    _nothing_saved()


def test_both_eyes_missing_names_both(client, owner, patient) -> None:
    client.force_login(owner)
    response = _post(client, patient)
    assert set(response.context["form"].errors) == {"right_eye", "left_eye"}
    _nothing_saved()


def test_another_clinics_patient_is_not_found(client, owner, other_clinic) -> None:
    stranger = PatientFactory.create(clinic=other_clinic)
    client.force_login(owner)
    assert client.get(reverse("screening:upload", kwargs={"patient_id": stranger.pk})).status_code == 404
    response = _post(client, stranger, right_eye=upload(RIGHT), left_eye=upload(LEFT))
    assert response.status_code == 404
    _nothing_saved()


def test_a_file_over_the_byte_cap_is_refused(owner, patient, settings) -> None:
    from django.core.exceptions import ValidationError

    settings.UPLOAD_MAX_BYTES = 1024
    with pytest.raises(ValidationError) as caught:
        services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=upload(LEFT))
    assert set(caught.value.message_dict) == {"right_eye", "left_eye"}
    assert "larger than" in caught.value.message_dict["right_eye"][0]
    _nothing_saved()


def test_a_photograph_over_the_pixel_cap_is_refused(owner, patient, settings) -> None:
    from django.core.exceptions import ValidationError

    settings.UPLOAD_MAX_PIXELS = 256 * 100
    with pytest.raises(ValidationError, match="too large"):
        services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=upload(LEFT))
    _nothing_saved()


def test_a_good_upload_through_the_form_goes_to_the_result_page(client, owner, patient) -> None:
    client.force_login(owner)
    response = _post(client, patient, right_eye=upload(RIGHT), left_eye=upload(LEFT))
    examination = Examination.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:detail", kwargs={"examination_id": examination.pk})
    assert examination.status == "queued"


def test_exif_orientation_is_applied_before_storing(owner, patient) -> None:
    photo = Image.open(RIGHT)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the sensor's pixels lie on their side
    sideways = photo.transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    sideways.save(buffer, "JPEG", quality=95, exif=exif)
    checked = check_upload(SimpleUploadedFile("r.jpg", buffer.getvalue()), eye="right")
    assert (checked.width, checked.height) == photo.size
    stored = Image.open(io.BytesIO(checked.content))
    assert stored.size == photo.size
    assert stored.getexif().get(0x0112, 1) == 1  # upright now: no viewer may rotate it again
    examination = services.examination_create(
        user=owner, patient=patient, right_eye=SimpleUploadedFile("r.jpg", buffer.getvalue()), left_eye=upload(LEFT)
    )
    right = examination.images.get(side="right")
    assert (right.width, right.height) == photo.size
    with default_storage.open(right.file.name) as handle:
        assert Image.open(handle).size == photo.size


def test_png_is_accepted(owner, patient) -> None:
    png = image_upload(Image.open(RIGHT), "right.png", fmt="PNG")
    examination = services.examination_create(user=owner, patient=patient, right_eye=png, left_eye=upload(LEFT))
    assert examination.images.get(side="right").format == "PNG"


def test_the_upload_pages_script_gets_the_examinations_address_not_a_redirect(client, owner, patient) -> None:
    # upload.js sends the form itself; a redirect would be followed by fetch (a second, audited page read).
    client.force_login(owner)
    url = reverse("screening:upload", kwargs={"patient_id": patient.pk})
    data = {"right_eye": upload(RIGHT), "left_eye": upload(LEFT), "notes": ""}
    response = client.post(url, data, headers={"X-Upload-Page": "fetch"})
    examination = Examination.objects.get()
    assert response.status_code == 201
    assert response.json() == {"location": reverse("screening:detail", args=[examination.pk])}


def test_a_refused_eye_answers_the_page_with_its_message_beside_its_zone(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("screening:upload", kwargs={"patient_id": patient.pk})
    white = image_upload(Image.new("RGB", (640, 480), (255, 255, 255)), "left.png", fmt="PNG")
    response = client.post(url, {"right_eye": upload(RIGHT), "left_eye": white, "notes": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="left_eye-errors"' in html and "Not a fundus photograph" in html
    assert 'id="right_eye-errors"' not in html
    assert not Examination.objects.exists()
