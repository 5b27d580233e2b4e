"""DICOM photographs in (screening/dicom.py through the upload service, the API and the web form): files
built with pydicom from real fundus photographs are filed as they came, and malformed or contradictory
ones are refused with a clear 400 naming the eye, nothing saved."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, JPEGLSLossless, VLPhotographicImageStorage
from rest_framework.test import APIClient

from patients.models import Patient
from screening import services
from screening.models import Examination, EyeImage
from tests.dicom_files import dicom_photograph, dicom_upload, dicomdir

from .conftest import LEFT, RIGHT, upload

pytestmark = pytest.mark.django_db

EXAMS = "/api/v1/examinations/"


@pytest.fixture
def api() -> Iterator[APIClient]:
    cache.clear()  # the upload throttle's counters outlive a test
    yield APIClient()
    cache.clear()


def _pair(patient: Patient, **left: Any) -> dict[str, Any]:
    """A right (uncompressed) and left (JPEG baseline) DICOM pair of the patient; `left` changes the left."""
    mrn = patient.medical_record_number
    right = dicom_photograph(RIGHT, laterality="R", patient_id=mrn)
    left_file = dicom_photograph(LEFT, **({"laterality": "L", "patient_id": mrn, "jpeg": True} | left))
    return {"right_eye": dicom_upload(right, "right.dcm"), "left_eye": dicom_upload(left_file, "left.dcm")}


def _nothing_saved() -> None:
    assert not Examination.objects.exists()
    assert not EyeImage.objects.exists()


def test_a_dicom_pair_is_filed_as_it_came_with_its_hash_and_checked_pixels(owner: Any, patient: Patient) -> None:
    files = _pair(patient)
    sent = {side: files[f"{side}_eye"].read() for side in ("right", "left")}
    examination = services.examination_create(user=owner, patient=patient, **_pair_again(files))
    for eye in examination.images.all():
        assert eye.format == "DICOM"
        assert eye.file.name.endswith(".dcm")
        with default_storage.open(eye.file.name, "rb") as stored:
            assert stored.read() == sent[eye.side]  # the camera's file, byte for byte
        assert eye.sha256 == hashlib.sha256(sent[eye.side]).hexdigest()
        assert (eye.width, eye.height) == Image.open(RIGHT if eye.side == "right" else LEFT).size
        assert eye.gradable is not None and "reasons" in eye.quality  # the quality check ran on its pixels


def _pair_again(files: dict[str, Any]) -> dict[str, Any]:
    for upload_file in files.values():
        upload_file.seek(0)
    return files


def test_a_vl_photographic_image_is_accepted(owner: Any, patient: Patient) -> None:
    files = _pair(patient, sop_class=VLPhotographicImageStorage)
    examination = services.examination_create(user=owner, patient=patient, **files)
    assert {eye.format for eye in examination.images.all()} == {"DICOM"}


def test_laterality_is_read_from_laterality_when_image_laterality_is_absent(owner: Any, patient: Patient) -> None:
    files = _pair(patient, laterality=None, Laterality="R")
    with pytest.raises(ValidationError) as caught:
        services.examination_create(user=owner, patient=patient, **files)
    assert caught.value.message_dict == {
        "left_eye": [
            "The left eye's DICOM file is a photograph of the right eye (DICOM laterality R): put it in the right "
            "eye's place."
        ]
    }
    _nothing_saved()


def test_a_file_that_names_no_eye_nor_patient_is_placed_by_its_zone(owner: Any, patient: Patient) -> None:
    files = _pair(patient, laterality=None, patient_id=None)
    examination = services.examination_create(user=owner, patient=patient, **files)
    assert examination.images.count() == 2


def test_the_patient_id_is_compared_as_record_numbers_are_ignoring_case(owner: Any, patient: Patient) -> None:
    files = _pair(patient, patient_id=patient.medical_record_number.lower())
    assert services.examination_create(user=owner, patient=patient, **files).images.count() == 2


def test_a_dicom_eye_beside_a_jpeg_eye_is_one_examination(owner: Any, patient: Patient) -> None:
    right = dicom_upload(dicom_photograph(RIGHT, laterality="R", patient_id=patient.medical_record_number))
    examination = services.examination_create(user=owner, patient=patient, right_eye=right, left_eye=upload(LEFT))
    assert dict(examination.images.values_list("side", "format")) == {"right": "DICOM", "left": "JPEG"}


def _no_pixel_data(patient: Patient) -> bytes:
    return dicom_photograph(LEFT, laterality="L", patient_id=patient.medical_record_number, PixelData=None)


def _truncated(patient: Patient) -> bytes:
    whole = dicom_photograph(LEFT, laterality="L", patient_id=patient.medical_record_number, jpeg=True)
    return whole[: len(whole) * 2 // 3]


def _truncated_uncompressed(patient: Patient) -> bytes:
    whole = dicom_photograph(LEFT, laterality="L", patient_id=patient.medical_record_number)
    return whole[: len(whole) // 2]


def _truncated_header(patient: Patient) -> bytes:
    whole = dicom_photograph(LEFT, laterality="L", patient_id=patient.medical_record_number)
    return whole[: whole.index(b"Doe^Jane") + 3]  # in the middle of the patient's name


def _dicomdir(patient: Patient, folder: Path) -> bytes:
    return dicomdir(folder, dicom_photograph(LEFT, laterality="L", patient_id=patient.medical_record_number))


def _left(**changes: Any) -> Callable[[Patient], bytes]:
    def make(patient: Patient) -> bytes:
        return dicom_photograph(LEFT, **({"laterality": "L", "patient_id": patient.medical_record_number} | changes))

    return make


def _rewritten(raw: bytes, change: Callable[[Dataset], None]) -> bytes:
    dataset = dcmread(io.BytesIO(raw))
    change(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _greyscale(patient: Patient) -> bytes:
    def to_grey(dataset: Dataset) -> None:
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        del dataset.PlanarConfiguration
        dataset.PixelData = Image.open(LEFT).convert("L").tobytes()

    return _rewritten(_left()(patient), to_grey)


def _jpeg_ls(patient: Patient) -> bytes:
    def relabel(dataset: Dataset) -> None:
        dataset.file_meta.TransferSyntaxUID = JPEGLSLossless
        dataset.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(64)])  # a JPEG-LS stream's start

    return _rewritten(_left()(patient), relabel)


MALFORMED = {
    "no pixel data": (_no_pixel_data, "holds no pixel data"),
    "wrong laterality": (_left(laterality="R"), "is a photograph of the right eye (DICOM laterality R)"),
    "both eyes": (_left(laterality="B"), "shows both eyes"),
    "laterality contradicting itself": (_left(Laterality="R"), "contradicts itself"),
    "truncated (JPEG)": (_truncated, "truncated"),
    "truncated (uncompressed)": (_truncated_uncompressed, "the file is truncated"),
    "truncated header": (_truncated_header, "truncated"),
    "another patient": (_left(patient_id="SOMEONE-ELSE"), "is of patient ID 'SOMEONE-ELSE', not of this patient"),
    "a CT image": (_left(sop_class=CTImageStorage), "is CT Image Storage; only Ophthalmic Photography 8 Bit"),
    "greyscale": (_greyscale, "is not a colour photograph (MONOCHROME2)"),
    "several frames": (_left(NumberOfFrames=2), "holds 2 frames"),
    "JPEG-LS (no decoder installed)": (_jpeg_ls, "which this portal cannot decode"),
}


def _malformed(case: str, patient: Patient, tmp_path: Path) -> bytes:
    if case == "DICOMDIR":
        return _dicomdir(patient, tmp_path)
    return MALFORMED[case][0](patient)


CASES = [*MALFORMED, "DICOMDIR"]
MESSAGES = {case: message for case, (_, message) in MALFORMED.items()} | {"DICOMDIR": "is a DICOMDIR"}


@pytest.mark.parametrize("case", CASES)
def test_the_api_refuses_a_malformed_dicom_file_with_a_400_naming_the_eye(
    api: APIClient, owner: Any, patient: Patient, tmp_path: Path, case: str
) -> None:
    api.force_authenticate(owner)
    files = _pair(patient)
    files["left_eye"] = dicom_upload(_malformed(case, patient, tmp_path), "left.dcm")
    response = api.post(EXAMS, {"patient": patient.pk, **files}, format="multipart")
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == ["left_eye"]
    assert body["left_eye"][0].startswith("The left eye's DICOM file")
    assert MESSAGES[case] in body["left_eye"][0]
    _nothing_saved()


def test_the_form_refuses_a_dicomdir_beside_its_zone(client: Any, owner: Any, patient: Patient, tmp_path: Path) -> None:
    client.force_login(owner)
    files = _pair(patient)
    files["right_eye"] = dicom_upload(_dicomdir(patient, tmp_path), "DICOMDIR")
    response = client.post(reverse("screening:upload", kwargs={"patient_id": patient.pk}), {"notes": "", **files})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["right_eye"]
    assert "is a DICOMDIR" in response.context["form"].errors["right_eye"][0]
    _nothing_saved()


def test_a_dicom_frame_over_the_pixel_cap_is_refused_before_decoding(
    owner: Any, patient: Patient, settings: Any
) -> None:
    settings.UPLOAD_MAX_PIXELS = 256 * 100
    with pytest.raises(ValidationError, match=r"at most 0\.0256 megapixels"):
        services.examination_create(user=owner, patient=patient, **_pair(patient))
    _nothing_saved()


def test_the_api_serves_a_dicom_eye_as_jpeg_and_the_original_to_a_dicom_client(
    api: APIClient, owner: Any, patient: Patient
) -> None:
    files = _pair(patient)
    original = files["right_eye"].read()
    examination = services.examination_create(user=owner, patient=patient, **_pair_again(files))
    api.force_authenticate(owner)
    url = f"{EXAMS}{examination.pk}/eyes/right/image/"
    shown = api.get(url)
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg"
    assert Image.open(_body(shown)).size == Image.open(RIGHT).size
    kept = api.get(url, HTTP_ACCEPT="application/dicom")
    assert kept["Content-Type"] == "application/dicom"
    assert _body(kept).read() == original


def _body(response: Any) -> Any:
    return io.BytesIO(b"".join(response.streaming_content))


def test_the_same_pictures_as_dicom_and_as_jpeg_are_one_pair_on_file(owner: Any, patient: Patient) -> None:
    # The already-filed check compares decoded pixels: an uncompressed DICOM of a JPEG's pixels is that photograph.
    mrn = patient.medical_record_number
    right = dicom_upload(dicom_photograph(RIGHT, laterality="R", patient_id=mrn))
    left = dicom_upload(dicom_photograph(LEFT, laterality="L", patient_id=mrn))
    services.examination_create(user=owner, patient=patient, right_eye=right, left_eye=left)
    with pytest.raises(ValidationError, match="already"):
        services.examination_create(user=owner, patient=patient, right_eye=upload(RIGHT), left_eye=upload(LEFT))
    assert Examination.objects.count() == 1


def test_a_dicom_picture_with_no_fundus_field_is_refused_as_any_photograph(
    api: APIClient, owner: Any, patient: Patient, tmp_path: Path
) -> None:
    blank = tmp_path / "blank.png"
    Image.new("RGB", (640, 480), (128, 128, 128)).save(blank)
    files = _pair(patient)
    mrn = patient.medical_record_number
    files["left_eye"] = dicom_upload(dicom_photograph(blank, laterality="L", patient_id=mrn), "left.dcm")
    api.force_authenticate(owner)
    response = api.post(EXAMS, {"patient": patient.pk, **files}, format="multipart")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["left_eye"]
    assert "Not a fundus photograph: the picture is a plain frame" in response.json()["left_eye"][0]
    _nothing_saved()
