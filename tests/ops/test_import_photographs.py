"""Bulk import: patients and examinations from a folder in the arranged layout, never twice."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from patients.models import Patient
from screening.models import Examination, EyeImage, Status

from ..conftest import stop_worker, wait_until_ready
from .broker import drain_task_messages, purge
from .faults import start_worker_with

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ops" / "arranged"
PATIENT_IDS = ["1000", "1002", "1008", "1017"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_queues() -> None:
    purge("inference", "celery")


def _import(folder: Path, user, *args: str, clinic: str = "North Eye Clinic") -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    options = ["--clinic", clinic, "--username", user.username, *args]
    call_command("import_photographs", str(folder), *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_makes_one_patient_per_patient_id_and_one_examination_per_pair(
    owner, clinic, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _import(FIXTURES, owner)
    assert "Imported 4 examination(s); 0 already imported" in out
    patients = Patient.objects.filter(clinic=clinic)
    assert sorted(patients.values_list("medical_record_number", flat=True)) == [f"arranged-{p}" for p in PATIENT_IDS]
    for patient in patients:
        (examination,) = patient.examinations.all()
        assert examination.status == Status.QUEUED
        assert examination.enqueued_at is not None  # the send is recorded, for the reconciler's clock
        assert examination.created_by == owner
        assert sorted(examination.images.values_list("side", flat=True)) == ["left", "right"]
    # Graded the normal way: one grading task per examination, on the inference queue.
    sent = drain_task_messages("inference")
    assert sorted(args[0] for _, args in sent) == sorted(Examination.objects.values_list("pk", flat=True))


def test_running_it_again_imports_nothing_twice(owner, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _import(FIXTURES, owner)
    drain_task_messages("inference")
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _import(FIXTURES, owner)
    assert "Imported 0 examination(s); 4 already imported" in out
    assert (Patient.objects.count(), Examination.objects.count(), EyeImage.objects.count()) == (4, 4, 8)
    assert drain_task_messages("inference") == []


def test_a_copy_re_saved_with_other_metadata_is_already_imported(owner, tmp_path: Path) -> None:
    _import(FIXTURES, owner)
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURES, copy)
    for photograph in copy.glob("*/*.jpeg"):
        data = photograph.read_bytes()  # a comment segment after the start marker: another file, the same pixels
        photograph.write_bytes(data[:2] + b"\xff\xfe\x00\x0cre-saved!!" + data[2:])
    out, _ = _import(copy, owner, "--mrn-prefix", "arranged-")
    assert "Imported 0 examination(s); 4 already imported, 0 refused" in out
    assert Examination.objects.count() == 4


def test_an_interrupted_import_resumes_where_it_stopped(owner) -> None:
    _import(FIXTURES, owner, "--limit", "2")
    assert Examination.objects.count() == 2
    out, _ = _import(FIXTURES, owner)
    assert "Imported 2 examination(s); 2 already imported" in out
    assert Examination.objects.count() == 4


def test_a_new_photograph_pair_of_a_known_patient_is_a_new_examination(owner, tmp_path: Path) -> None:
    _import(FIXTURES, owner)
    # The same patient photographed again later: a second set in another folder, same MRN prefix.
    later = tmp_path / "later"
    (later / "0").mkdir(parents=True)
    for eye, other in (("right", "1017_right"), ("left", "1017_left")):
        # New photographs (re-encoded): the very pair filed under patient 1017 would be refused as a mix-up.
        Image.open(FIXTURES / "0" / f"{other}.jpeg").save(later / "0" / f"1000_{eye}.jpeg", quality=80)
    (later / "manifest.csv").write_text(
        "file,grade,eye,patient_id\n0/1000_right.jpeg,0,right,1000\n0/1000_left.jpeg,0,left,1000\n"
    )
    out, _ = _import(later, owner, "--mrn-prefix", "arranged-")
    assert "Imported 1 examination(s)" in out
    patient = Patient.objects.get(medical_record_number="arranged-1000")
    assert patient.examinations.count() == 2
    assert Patient.objects.count() == 4


def test_it_reports_bad_rows_and_imports_the_rest(owner, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(FIXTURES, folder)
    (folder / "0" / "9999_right.jpeg").write_bytes(b"not a photograph")
    (folder / "0" / "9999_left.jpeg").write_bytes(b"not a photograph either")
    manifest = (folder / "manifest.csv").read_text()
    manifest += "0/9999_right.jpeg,0,right,9999,\n0/9999_left.jpeg,0,left,9999,\n"  # unreadable images
    manifest += "0/1000_right.jpeg,0,right,8888,\n"  # only one eye
    manifest += "../../etc/passwd,0,left,7777,\n0/missing.jpeg,0,right,7777,\n"  # outside, missing
    manifest += "0/1000_left.jpeg,0,middle,6666,\n"  # no such eye
    (folder / "manifest.csv").write_text(manifest)
    out, err = StringIO(), StringIO()
    options = ["--clinic", "North Eye Clinic", "--username", owner.username]
    # The rest is imported, and the exit status says that something was not.
    with pytest.raises(CommandError, match="5 photograph pair"):
        call_command("import_photographs", str(folder), *options, stdout=out, stderr=err)
    out, err = out.getvalue(), err.getvalue()
    assert "Imported 4 examination(s); 0 already imported, 1 refused, 4 manifest problem(s)" in out
    assert "refused patient 9999: The right eye's file is not a readable JPEG, PNG or DICOM photograph." in err
    assert "patient 8888: only the right eye" in err
    assert "lies outside the folder" in err
    assert "does not exist" in err
    assert "neither right nor left" in err
    assert not Patient.objects.filter(medical_record_number__in=["mixed-9999", "mixed-8888"]).exists()


def test_it_refuses_a_user_of_another_clinic(outsider) -> None:
    with pytest.raises(CommandError, match="not a member of the clinic 'North Eye Clinic'"):
        _import(FIXTURES, outsider)
    assert Examination.objects.count() == 0


def test_it_refuses_a_folder_without_a_manifest(owner, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"No manifest\.csv"):
        _import(tmp_path, owner)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_import_with_wait_returns_once_a_real_worker_has_graded_everything(
    owner, media_root, grading_checkpoint, tmp_path, capsys
) -> None:
    log = tmp_path / "worker.log"
    worker = start_worker_with(media_root, log, name="import", env={"DR_CHECKPOINT_PATH": str(grading_checkpoint)})
    try:
        wait_until_ready(worker, log)
        out, err = _import(FIXTURES, owner, "--wait", "--wait-timeout", "180")
    finally:
        stop_worker(worker)
    assert "Graded 4; 0 failed." in out, err + log.read_text()[-3000:]
    assert "Grading" in capsys.readouterr().err  # tqdm's second bar, on the terminal's stderr
    for examination in Examination.objects.all():
        assert examination.status == Status.DONE
        assert sorted(examination.images.values_list("predictions__eye_image__side", flat=True)) == ["left", "right"]


def test_a_picture_that_is_no_fundus_photograph_or_one_file_for_both_eyes_is_skipped_with_the_reason(
    owner, tmp_path: Path
) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(FIXTURES, folder)
    Image.new("RGB", (1024, 768), (255, 255, 255)).save(folder / "0" / "5555_left.jpeg")  # a blank frame
    shutil.copy(folder / "0" / "1000_right.jpeg", folder / "0" / "5555_right.jpeg")
    shutil.copy(folder / "0" / "1017_right.jpeg", folder / "0" / "4444_right.jpeg")
    shutil.copy(folder / "0" / "1017_right.jpeg", folder / "0" / "4444_left.jpeg")  # the same file twice
    manifest = (folder / "manifest.csv").read_text()
    manifest += "0/5555_right.jpeg,0,right,5555,\n0/5555_left.jpeg,0,left,5555,\n"
    manifest += "0/4444_right.jpeg,0,right,4444,\n0/4444_left.jpeg,0,left,4444,\n"
    (folder / "manifest.csv").write_text(manifest)
    out, err = StringIO(), StringIO()
    options = ["--clinic", "North Eye Clinic", "--username", owner.username]
    with pytest.raises(CommandError, match="2 photograph pair"):
        call_command("import_photographs", str(folder), *options, stdout=out, stderr=err)
    assert "Imported 4 examination(s); 0 already imported, 2 refused" in out.getvalue()
    assert "refused patient 5555: The left eye's picture is refused. Not a fundus photograph: " in err.getvalue()
    assert "refused patient 4444: The same file was chosen for both eyes" in err.getvalue()
    # Nothing of the refused pairs is kept, not even their patients.
    assert not Patient.objects.filter(medical_record_number__in=["bad-5555", "bad-4444"]).exists()
    assert Examination.objects.count() == 4
