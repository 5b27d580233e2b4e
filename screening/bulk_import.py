"""Bulk import of fundus photographs in the arranged layout (`<grade>/<file>` plus `manifest.csv`).

Each manifest `patient_id` becomes one patient (its medical record number derived from the id), each
right + left pair one examination, created through the same services as a web upload, so the images are
validated, hashed and stored the same way and grading is enqueued the normal way. Re-running an import
creates nothing twice: a patient is found again by its record number, an examination by the SHA-256 of
its two photographs.
"""

from __future__ import annotations

import csv
import datetime as dt
import mimetypes
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from patients.models import Patient, Sex
from patients.selectors import membership_for
from patients.services import patient_create

from .models import Examination, EyeImage, Side
from .services import examination_create
from .validation import check_upload

REQUIRED_COLUMNS = {"file", "grade", "eye", "patient_id"}
# When the manifest says nothing about the person: a recognisable placeholder, documented in operations.md.
UNKNOWN_DATE_OF_BIRTH = dt.date(1900, 1, 1)


class ManifestError(ValueError):
    """The manifest cannot be read at all (missing, or without the required columns)."""


@dataclass(frozen=True)
class PhotographPair:
    patient_id: str
    right: Path
    left: Path
    first_name: str = ""
    last_name: str = ""
    date_of_birth: dt.date | None = None
    sex: str = ""


@dataclass(frozen=True)
class Manifest:
    pairs: list[PhotographPair]
    problems: list[str]


def manifest_read(folder: Path) -> Manifest:
    """The right + left pairs a manifest describes, one per patient, and a line per row it had to skip."""
    path = folder / "manifest.csv"
    if not path.is_file():
        raise ManifestError(f"No manifest.csv in {folder}.")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = REQUIRED_COLUMNS - set(reader.fieldnames or [])
        if missing:
            raise ManifestError(f"{path} lacks the column(s) {', '.join(sorted(missing))}.")
        rows = list(reader)
    problems: list[str] = []
    by_patient: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    root = folder.resolve()
    for line, row in enumerate(rows, start=2):
        problem = _row_problem(root, row)
        if problem:
            problems.append(f"line {line}: {problem}")
            continue
        eyes = by_patient[row["patient_id"].strip()]
        if row["eye"] in eyes:
            problems.append(f"line {line}: a second {row['eye']} eye for patient {row['patient_id']}")
            continue
        eyes[row["eye"]] = row
    pairs: list[PhotographPair] = []
    for patient_id, eyes in by_patient.items():
        if set(eyes) != {Side.RIGHT, Side.LEFT}:
            problems.append(f"patient {patient_id}: only the {', '.join(eyes)} eye; an examination needs both")
            continue
        pairs.append(_pair(root, patient_id, eyes))
    return Manifest(pairs=pairs, problems=problems)


def _row_problem(root: Path, row: dict[str, str]) -> str:
    if not (row.get("patient_id") or "").strip():
        return "no patient_id"
    if row.get("eye") not in Side.values:
        return f"eye {row.get('eye')!r} is neither right nor left"
    path = (root / (row.get("file") or "")).resolve()
    if not path.is_relative_to(root):
        # A manifest is data, not a licence to read files elsewhere on the server.
        return f"{row.get('file')!r} lies outside the folder"
    if not path.is_file():
        return f"{row.get('file')!r} does not exist"
    return ""


def _pair(root: Path, patient_id: str, eyes: dict[str, dict[str, str]]) -> PhotographPair:
    right = eyes[Side.RIGHT]
    born = (right.get("date_of_birth") or "").strip()
    return PhotographPair(
        patient_id=patient_id,
        right=(root / right["file"]).resolve(),
        left=(root / eyes[Side.LEFT]["file"]).resolve(),
        first_name=(right.get("first_name") or "").strip(),
        last_name=(right.get("last_name") or "").strip(),
        date_of_birth=dt.date.fromisoformat(born) if born else None,
        sex=(right.get("sex") or "").strip().upper(),
    )


def medical_record_number(*, prefix: str, patient_id: str) -> str:
    return f"{prefix}{patient_id}"


@transaction.atomic
def photograph_pair_import(*, user: AbstractBaseUser, pair: PhotographPair, mrn_prefix: str) -> Examination | None:
    """Import one pair as an examination of its patient (created if new). None when it was imported before."""
    patient = _patient_get_or_create(user=user, pair=pair, mrn_prefix=mrn_prefix)
    if _already_imported(patient=patient, pair=pair):
        return None
    return examination_create(
        user=user,
        patient=patient,
        right_eye=_upload(pair.right),
        left_eye=_upload(pair.left),
        notes=f"Imported from {pair.right.parent.parent.name}: {pair.right.name}, {pair.left.name}",
    )


def _patient_get_or_create(*, user: AbstractBaseUser, pair: PhotographPair, mrn_prefix: str) -> Patient:
    membership = membership_for(user)
    mrn = medical_record_number(prefix=mrn_prefix, patient_id=pair.patient_id)
    existing = Patient.objects.filter(clinic_id=membership.clinic_id, medical_record_number=mrn).first()
    if existing is not None:
        return existing
    return patient_create(
        user=user,
        medical_record_number=mrn,
        first_name=pair.first_name or "Imported",
        last_name=pair.last_name or f"patient {pair.patient_id}",
        date_of_birth=pair.date_of_birth or UNKNOWN_DATE_OF_BIRTH,
        sex=pair.sex if pair.sex in Sex.values else Sex.UNKNOWN,
    )


def _already_imported(*, patient: Patient, pair: PhotographPair) -> bool:
    # Same patient, same two photographs: the examination exists, whatever became of its grading. The
    # hash is the upload check's (of the stored, upright bytes), so it matches what the first run kept.
    right = check_upload(_upload(pair.right), eye="right").sha256
    left = check_upload(_upload(pair.left), eye="left").sha256
    right_exams = EyeImage.objects.filter(examination__patient=patient, side=Side.RIGHT, sha256=right)
    return EyeImage.objects.filter(
        examination__in=right_exams.values("examination_id"), side=Side.LEFT, sha256=left
    ).exists()


def _upload(path: Path) -> SimpleUploadedFile:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type=content_type)
