"""Bulk import of a folder of DICOM fundus photographs (a camera's or a PACS export): the two eyes of a
patient's visit are the photographs of one Patient ID (0010,0020) and one Study Instance UID (0020,000D),
told apart by their laterality. Each such pair becomes one examination through the same path as a manifest's
pair (bulk_import.photograph_pair_import), so every upload rule applies; the Patient ID is the record number.

Files that are not DICOM Part 10 files, and a DICOMDIR (the index of a disc or folder), are passed over:
an export holds them beside the photographs. What cannot be placed is reported, one line each.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pydicom.uid import MediaStorageDirectoryStorage

from . import dicom
from .bulk_import import Manifest, PhotographPair
from .models import Side

# A DICOM photograph found in the folder, with what it says; a study's photographs by side.
Placed = tuple[Path, dicom.DicomHeader]
Eyes = dict[str, list[Placed]]


class NoDicomFiles(ValueError):
    """The folder holds no DICOM file at all."""


def dicom_folder_read(folder: Path) -> Manifest:
    """The right + left pairs in a folder of DICOM files (searched through its subfolders), one per patient
    and study, and a line per file or study that could not be paired."""
    if not folder.is_dir():
        raise NoDicomFiles(f"{folder} is not a folder (or cannot be read).")
    placed, problems = _placed_files(folder)
    if not placed and not problems:
        raise NoDicomFiles(f"No manifest.csv and no DICOM files in {folder}.")
    studies: dict[tuple[str, str], Eyes] = defaultdict(lambda: defaultdict(list))
    for path, header in placed:
        studies[(header.patient_id, header.study_uid)][header.side or ""].append((path, header))
    pairs = []
    for (patient_id, study_uid), eyes in sorted(studies.items()):
        problem = _study_problem(folder, patient_id, study_uid, eyes)
        if problem:
            problems.append(problem)
        else:
            pairs.append(_pair(folder, patient_id, eyes))
    return Manifest(pairs=pairs, problems=problems)


def _placed_files(folder: Path) -> tuple[list[Placed], list[str]]:
    placed: list[Placed] = []
    problems: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        header, problem = _header(path)
        if problem:
            problems.append(f"{path.relative_to(folder)}: {problem}")
        elif header is not None:
            placed.append((path, header))
    return placed, problems


def _header(path: Path) -> tuple[dicom.DicomHeader | None, str]:
    """The file's header, or None for a file that is not a DICOM photograph to import; a problem to report
    for a DICOM file that cannot be placed."""
    try:
        with path.open("rb") as handle:
            if not dicom.is_dicom(handle.read(dicom.PREAMBLE_LENGTH + 4)):
                return None, ""
            handle.seek(0)
            header = dicom.read_header(handle)
    except dicom.DECODING_ERRORS as exc:
        return None, f"cannot be read as DICOM ({exc})"
    if header.sop_class_uid == MediaStorageDirectoryStorage:
        return None, ""
    named = {"Patient ID": header.patient_id, "Study Instance UID": header.study_uid}
    missing = [name for name, value in named.items() if not value]
    if missing:
        return None, f"no {' and no '.join(missing)}: it cannot be given to a patient's visit"
    if header.side is None:
        return None, f"laterality {header.laterality or 'not given'}: neither the right nor the left eye"
    return header, ""


def _study_problem(folder: Path, patient_id: str, study_uid: str, eyes: Eyes) -> str:
    where = f"patient {patient_id}, study {study_uid}"
    for side in (Side.RIGHT, Side.LEFT):
        files = eyes.get(side, [])
        if not files:
            present = ", ".join(str(path.relative_to(folder)) for group in eyes.values() for path, _ in group)
            return f"{where}: no {side} eye photograph ({present}); an examination needs both"
        if len(files) > 1:
            names = ", ".join(str(path.relative_to(folder)) for path, _ in files)
            return f"{where}: {len(files)} {side} eye photographs ({names}); which one to grade is a person's choice"
    return ""


def _pair(folder: Path, patient_id: str, eyes: Eyes) -> PhotographPair:
    (right, header), (left, _) = eyes[Side.RIGHT][0], eyes[Side.LEFT][0]
    return PhotographPair(
        patient_id=patient_id,
        right=right,
        left=left,
        first_name=header.given_name,
        last_name=header.family_name,
        date_of_birth=header.birth_date,
        sex=header.sex,
        note=f"Imported from DICOM study {header.study_uid} in {folder.name}: {right.name}, {left.name}",
    )
