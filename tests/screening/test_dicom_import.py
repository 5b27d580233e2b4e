"""`manage.py import_photographs` on a folder of DICOM files (screening/dicom_import.py): the two eyes of a
visit are grouped by Patient ID and Study Instance UID, the Patient ID is the record number, and what
cannot be paired is reported while the rest is imported, never twice."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom.uid import generate_uid

from patients.models import Patient
from screening.models import Examination
from tests.dicom_files import dicom_photograph, dicomdir
from tests.factories import PatientFactory

from .conftest import FIXTURES

pytestmark = pytest.mark.django_db

PHOTOS = {
    "EYE-1002": (FIXTURES / "eyepacs_1002_right.jpg", FIXTURES / "eyepacs_1002_left.jpg"),
    "EYE-3": (FIXTURES / "srahim_003_right.jpg", FIXTURES / "srahim_003_left.jpg"),
}


def _visit(folder: Path, patient_id: str, *, name: str = "Doe^Jane", sides: str = "RL") -> str:
    """One study of the patient's, written as a camera exports it: a subfolder, files without extensions."""
    study = generate_uid()
    (folder / patient_id).mkdir(parents=True, exist_ok=True)
    for index, code in enumerate(sides):
        photograph = PHOTOS[patient_id][0 if code == "R" else 1]
        content = dicom_photograph(
            photograph, laterality=code, patient_id=patient_id, study_uid=study, patient_name=name
        )
        (folder / patient_id / f"IM{index:05d}{code}").write_bytes(content)
    return study


def _import(folder: Path, user: Any, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    options = ["--clinic", "North Eye Clinic", "--username", user.username, *args]
    call_command("import_photographs", str(folder), *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_each_patients_study_becomes_one_examination_of_the_patient_the_dicom_names(
    owner: Any, clinic: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    study = _visit(tmp_path, "EYE-1002", name="Doe^Jane")
    _visit(tmp_path, "EYE-3", name="Roe^Richard")
    index = dicomdir(tmp_path_factory.mktemp("disc"), (tmp_path / "EYE-3" / "IM00000R").read_bytes())
    (tmp_path / "DICOMDIR").write_bytes(index)  # an export's index, beside the photographs
    (tmp_path / "README.txt").write_text("exported by the camera\n")
    out, err = _import(tmp_path, owner)
    assert "Imported 2 examination(s); 0 already imported, 0 refused, 0 manifest problem(s)." in out, err
    jane = Patient.objects.get(clinic=clinic, medical_record_number="EYE-1002")
    assert (jane.last_name, jane.first_name, jane.date_of_birth, jane.sex) == ("Doe", "Jane", dt.date(1960, 5, 17), "F")
    (examination,) = jane.examinations.all()
    assert dict(examination.images.values_list("side", "format")) == {"right": "DICOM", "left": "DICOM"}
    assert study in examination.notes
    assert Patient.objects.get(medical_record_number="EYE-3").last_name == "Roe"


def test_running_it_again_imports_nothing_twice(owner: Any, tmp_path: Path) -> None:
    _visit(tmp_path, "EYE-1002")
    _import(tmp_path, owner)
    out, _ = _import(tmp_path, owner)
    assert "Imported 0 examination(s); 1 already imported" in out
    assert Examination.objects.count() == 1


def test_a_registered_patient_is_found_by_record_number_whatever_its_case(
    owner: Any, clinic: Any, tmp_path: Path
) -> None:
    registered: Patient = PatientFactory(clinic=clinic, medical_record_number="eye-1002")
    _visit(tmp_path, "EYE-1002")
    _import(tmp_path, owner)
    assert Examination.objects.get().patient == registered


def test_what_cannot_be_paired_is_reported_and_the_rest_imported(owner: Any, tmp_path: Path) -> None:
    _visit(tmp_path, "EYE-1002")
    lonely = _visit(tmp_path, "EYE-3", sides="R")
    twice = _visit(tmp_path / "second", "EYE-3", sides="RRL")
    (tmp_path / "broken").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    no_side = dicom_photograph(PHOTOS["EYE-3"][0], laterality=None, patient_id="EYE-3")
    (tmp_path / "no-side").write_bytes(no_side)
    with pytest.raises(CommandError, match="were not imported"):
        _import(tmp_path, owner)
    assert Examination.objects.count() == 1
    err = _import_errors(tmp_path, owner)
    assert f"patient EYE-3, study {lonely}: no left eye photograph" in err
    assert f"patient EYE-3, study {twice}: 2 right eye photographs" in err
    assert "no-side: laterality not given: neither the right nor the left eye" in err


def _import_errors(folder: Path, user: Any) -> str:
    err = StringIO()
    options = ["--clinic", "North Eye Clinic", "--username", user.username]
    with pytest.raises(CommandError):
        call_command("import_photographs", str(folder), *options, stdout=StringIO(), stderr=err)
    return err.getvalue()


def test_a_photograph_the_upload_refuses_is_reported_as_refused(owner: Any, tmp_path: Path) -> None:
    study = generate_uid()
    right = dicom_photograph(PHOTOS["EYE-3"][0], laterality="R", patient_id="EYE-3", study_uid=study)
    left = dicom_photograph(PHOTOS["EYE-3"][1], laterality="L", patient_id="EYE-3", study_uid=study, PixelData=None)
    (tmp_path / "r.dcm").write_bytes(right)
    (tmp_path / "l.dcm").write_bytes(left)
    err = _import_errors(tmp_path, owner)
    assert "refused patient EYE-3: The left eye's DICOM file holds no pixel data" in err
    assert not Examination.objects.exists() and not Patient.objects.exists()


def test_a_record_number_prefix_is_refused_for_dicom_files(owner: Any, tmp_path: Path) -> None:
    _visit(tmp_path, "EYE-1002")
    with pytest.raises(CommandError, match="a DICOM file's Patient ID is the record number"):
        _import(tmp_path, owner, "--mrn-prefix", "X-")


def test_a_folder_with_neither_manifest_nor_dicom_files_is_refused(owner: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here\n")
    with pytest.raises(CommandError, match=r"No manifest\.csv and no DICOM files in"):
        _import(tmp_path, owner)
