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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from audit.services import record_event
from patients.models import Patient, Sex
from patients.selectors import membership_for
from patients.services import patient_create

from .models import Examination, EyeImage, Side
from .services import examination_create
from .validation import check_upload

REQUIRED_COLUMNS = {"file", "grade", "eye", "patient_id"}
# When the manifest says nothing about the person: a recognisable placeholder, documented in operations.md.
UNKNOWN_DATE_OF_BIRTH = dt.date(1900, 1, 1)
IMPORT_CHANNEL = {"channel": "import"}


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
    note: str = ""  # the examination's notes; by default where the two files came from


@dataclass(frozen=True)
class Manifest:
    pairs: list[PhotographPair]
    problems: list[str]


def manifest_read(folder: Path) -> Manifest:
    """The right + left pairs a manifest describes, one per patient, and a line per row it had to skip."""
    rows = _manifest_rows(folder)
    problems: list[str] = []
    by_patient: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    root = folder.resolve()
    for line, row in enumerate(rows, start=2):
        problem = _row_problem(root, row)
        if problem:
            problems.append(f"line {line}: {problem}")
            continue
        patient_id, eye = row["patient_id"].strip(), _eye(row)
        eyes = by_patient[patient_id]
        if eye in eyes:
            problems.append(f"line {line}: a second {eye} eye for patient {patient_id}")
            continue
        eyes[eye] = row
    pairs: list[PhotographPair] = []
    for patient_id, eyes in by_patient.items():
        if set(eyes) != {Side.RIGHT, Side.LEFT}:
            problems.append(f"patient {patient_id}: only the {', '.join(eyes)} eye; an examination needs both")
            continue
        pairs.append(_pair(root, patient_id, eyes))
    return Manifest(pairs=pairs, problems=problems)


def _manifest_rows(folder: Path) -> list[dict[str, str]]:
    if not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder (or cannot be read).")
    path = folder / "manifest.csv"
    if not path.is_file():
        raise ManifestError(f"No manifest.csv in {folder}.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = REQUIRED_COLUMNS - {name.strip() for name in reader.fieldnames or []}
            if missing:
                raise ManifestError(_missing_columns(path, missing, reader.fieldnames or []))
            return [_stripped_keys(row) for row in reader]
    except UnicodeDecodeError as exc:
        # A spreadsheet's "CSV" in a legacy encoding: say how to save it instead of a traceback.
        raise ManifestError(f'{path} is not UTF-8 text (byte {exc.start}): save it as "CSV UTF-8".') from exc
    except (OSError, csv.Error) as exc:
        raise ManifestError(f"{path} cannot be read: {exc}.") from exc


def _missing_columns(path: Path, missing: set[str], header: Sequence[str]) -> str:
    message = f"{path} lacks the column(s) {', '.join(sorted(missing))}."
    if len(header) == 1 and ";" in header[0]:
        message += " Its columns are separated by semicolons; the manifest needs commas."
    return message


def _stripped_keys(row: dict[str | None, object]) -> dict[str, str]:
    # " eye" from a header typed with spaces names the eye column; surplus cells (key None) are dropped.
    return {key.strip(): value for key, value in row.items() if key is not None and isinstance(value, str)}


def _eye(row: dict[str, str]) -> str:
    return (row.get("eye") or "").strip().lower()


def _row_problem(root: Path, row: dict[str, str]) -> str:
    if not (row.get("patient_id") or "").strip():
        return "no patient_id"
    if _eye(row) not in Side.values:
        return f"eye {row.get('eye')!r} is neither right nor left"
    born = (row.get("date_of_birth") or "").strip()
    if born and _date_or_none(born) is None:
        return f"date_of_birth {born!r} is not a date (YYYY-MM-DD)"
    path = (root / (row.get("file") or "")).resolve()
    if not path.is_relative_to(root):
        # A manifest is data, not a licence to read files elsewhere on the server.
        return f"{row.get('file')!r} lies outside the folder"
    if not path.is_file():
        return f"{row.get('file')!r} does not exist"
    return ""


def _date_or_none(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _pair(root: Path, patient_id: str, eyes: dict[str, dict[str, str]]) -> PhotographPair:
    right = eyes[Side.RIGHT]
    born = (right.get("date_of_birth") or "").strip()
    return PhotographPair(
        patient_id=patient_id,
        right=(root / right["file"]).resolve(),
        left=(root / eyes[Side.LEFT]["file"]).resolve(),
        first_name=(right.get("first_name") or "").strip(),
        last_name=(right.get("last_name") or "").strip(),
        date_of_birth=_date_or_none(born) if born else None,
        sex=(right.get("sex") or "").strip().upper(),
    )


def medical_record_number(*, prefix: str, patient_id: str) -> str:
    return f"{prefix}{patient_id}"


@transaction.atomic
def photograph_pair_import(*, user: User, pair: PhotographPair, mrn_prefix: str) -> Examination | None:
    """Import one pair as an examination of its patient (created if new). None when it was imported before."""
    right, left = _upload(pair.right), _upload(pair.left)
    patient = _patient_get_or_create(user=user, pair=pair, mrn_prefix=mrn_prefix)
    if _already_imported(patient=patient, right=right, left=left):
        return None
    return examination_create(
        user=user,
        patient=patient,
        right_eye=right,
        left_eye=left,
        notes=pair.note or f"Imported from {pair.right.parent.parent.name}: {pair.right.name}, {pair.left.name}",
        audit_detail=IMPORT_CHANNEL,
    )


def _patient_get_or_create(*, user: User, pair: PhotographPair, mrn_prefix: str) -> Patient:
    membership = membership_for(user)
    assert membership is not None  # the import command names a member of the clinic
    mrn = medical_record_number(prefix=mrn_prefix, patient_id=pair.patient_id)
    # Case-insensitive, as the clinic's record numbers are unique: "IMP-7" registered by hand is "imp-7".
    same = Patient.objects.filter(clinic_id=membership.clinic_id, medical_record_number__iexact=mrn)
    existing = same.order_by("id").first()
    if existing is not None:
        return existing
    patient = patient_create(
        user=user,
        medical_record_number=mrn,
        first_name=pair.first_name or "Imported",
        last_name=pair.last_name or f"patient {pair.patient_id}",
        date_of_birth=pair.date_of_birth or UNKNOWN_DATE_OF_BIRTH,
        sex=pair.sex if pair.sex in Sex.values else Sex.UNKNOWN,
    )
    # As the registration page and API record theirs, in the same transaction as the patient.
    record_event(action="patient.create", actor=user, obj=patient, detail=IMPORT_CHANNEL)
    return patient


def _already_imported(*, patient: Patient, right: SimpleUploadedFile, left: SimpleUploadedFile) -> bool:
    # Same patient, same two photographs: the examination exists, whatever became of its grading. The
    # hash is the upload check's (of the stored pixels), so it matches what the first run kept, and a copy
    # re-saved with other metadata since is the same photograph, as the upload's already-filed check says.
    right_hash = check_upload(right, eye="right").pixel_sha256
    left_hash = check_upload(left, eye="left").pixel_sha256
    right_exams = EyeImage.objects.filter(examination__patient=patient, side=Side.RIGHT, pixel_sha256=right_hash)
    return EyeImage.objects.filter(
        examination__in=right_exams.values("examination_id"), side=Side.LEFT, pixel_sha256=left_hash
    ).exists()


def _upload(path: Path) -> SimpleUploadedFile:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        content = path.read_bytes()
    except OSError as exc:
        # Unreadable (permissions) or gone since the manifest was read: this pair is refused, not the run.
        raise ValidationError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    return SimpleUploadedFile(path.name, content, content_type=content_type)
