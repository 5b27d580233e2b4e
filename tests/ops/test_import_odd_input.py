"""Bulk import with odd input: manifests a spreadsheet wrote, bad rows, the wrong uploader, a limit of 0, a
photograph gone since the manifest was read. Clear words, a non-zero exit, nothing half-saved."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from patients.models import Patient
from screening.bulk_import import PhotographPair, photograph_pair_import
from screening.models import Examination
from tests.factories import PatientFactory

from .broker import purge

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ops" / "arranged"
ONE_PAIR = "file,grade,eye,patient_id\n0/1000_right.jpeg,0,right,1000\n0/1000_left.jpeg,0,left,1000\n"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_queues() -> None:
    purge("inference", "celery")


def _import(folder: Path, username: str, *args: str, err: StringIO | None = None) -> tuple[str, str]:
    out, err = StringIO(), err or StringIO()
    options = ["--clinic", "North Eye Clinic", "--username", username, "-v", "0", *args]
    call_command("import_photographs", str(folder), *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _folder(tmp_path: Path, manifest: str | bytes) -> Path:
    folder = tmp_path / "batch"
    shutil.copytree(FIXTURES, folder)
    target = folder / "manifest.csv"
    target.write_bytes(manifest if isinstance(manifest, bytes) else manifest.encode())
    return folder


def test_each_imported_patient_is_on_the_audit_trail_once(owner) -> None:
    _import(FIXTURES, owner.username)
    _import(FIXTURES, owner.username)
    events = AuditEvent.objects.filter(action="patient.create")
    assert sorted(e.patient.medical_record_number for e in events) == sorted(
        Patient.objects.values_list("medical_record_number", flat=True)
    )
    assert {(e.actor, e.object_type, e.detail["channel"]) for e in events} == {(owner, "patient", "import")}
    assert AuditEvent.objects.filter(action="examination.create", detail__channel="import").count() == 4


def test_a_manifest_in_a_legacy_encoding_is_refused_in_words(owner, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ONE_PAIR.replace("1000\n", "1000,M\xfcller\n").encode("latin-1"))
    with pytest.raises(CommandError, match=r'not UTF-8 text .*save it as "CSV UTF-8"'):
        _import(folder, owner.username)
    assert not Patient.objects.exists()


def test_a_manifest_with_semicolons_says_so(owner, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ONE_PAIR.replace(",", ";"))
    with pytest.raises(CommandError, match="separated by semicolons; the manifest needs commas"):
        _import(folder, owner.username)


def test_a_bom_crlf_and_spaced_header_and_eye_are_read(owner, tmp_path: Path) -> None:
    manifest = (
        "\ufefffile, grade, eye, patient_id\r\n0/1000_right.jpeg,0, Right ,1000\r\n0/1000_left.jpeg,0,LEFT,1000\r\n"
    )
    out, _ = _import(_folder(tmp_path, manifest), owner.username)
    assert "Imported 1 examination(s)" in out


def test_a_bad_date_of_birth_is_a_manifest_problem_and_the_run_fails(owner, tmp_path: Path) -> None:
    manifest = "file,grade,eye,patient_id,date_of_birth\n0/1000_right.jpeg,0,right,1000,1960-13-45\n"
    manifest += (
        "0/1000_left.jpeg,0,left,1000,1960-13-45\n0/1017_right.jpeg,0,right,1017,\n0/1017_left.jpeg,0,left,1017,\n"
    )
    err = StringIO()
    with pytest.raises(CommandError, match="2 photograph pair"):
        _import(_folder(tmp_path, manifest), owner.username, err=err)
    assert "line 2: date_of_birth '1960-13-45' is not a date (YYYY-MM-DD)" in err.getvalue()
    # The good pair is imported all the same.
    assert list(Patient.objects.values_list("medical_record_number", flat=True)) == ["batch-1017"]


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_limit_below_one_is_refused_and_imports_nothing(owner, limit: str) -> None:
    with pytest.raises(CommandError, match="must be 1 or more"):
        _import(FIXTURES, owner.username, "--limit", limit)
    assert not Examination.objects.exists()


def test_a_clinic_admin_is_refused_as_uploader_before_anything(clinic_admin) -> None:
    with pytest.raises(CommandError, match="is a Clinic admin: name a staff member or doctor"):
        _import(FIXTURES, clinic_admin.username)
    assert not Patient.objects.exists()


def test_a_deactivated_uploader_is_refused(owner) -> None:
    owner.is_active = False
    owner.save()
    with pytest.raises(CommandError, match="is deactivated"):
        _import(FIXTURES, owner.username)
    assert not Patient.objects.exists()


def test_a_missing_folder_is_named_as_such(owner, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is not a folder"):
        _import(tmp_path / "nowhere", owner.username)


def test_a_patient_registered_by_hand_in_other_case_gets_the_examination(owner, clinic) -> None:
    registered = PatientFactory.create(clinic=clinic, created_by=owner, medical_record_number="ARRANGED-1000")
    out, _ = _import(FIXTURES, owner.username)
    assert "Imported 4 examination(s)" in out
    assert registered.examinations.count() == 1
    assert not Patient.objects.filter(medical_record_number="arranged-1000").exists()


def test_a_photograph_gone_since_the_manifest_was_read_refuses_its_pair(owner, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ONE_PAIR)
    pair = PhotographPair(patient_id="1000", right=folder / "0" / "1000_right.jpeg", left=folder / "0" / "gone.jpeg")
    with pytest.raises(ValidationError, match="cannot be read"):
        photograph_pair_import(user=owner, pair=pair, mrn_prefix="batch-")
    assert not Patient.objects.exists()
