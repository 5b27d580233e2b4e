"""Datasets in the arranged layout, the 0-4 to 3-class mapping and the patient-level split."""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

LABELS: tuple[str, ...] = ("No DR", "Mild", "Proliferative")
# Every format PIL reads that fundus cameras and image tools write; anything else in a grade folder is not
# a photograph (notes, thumbnails' databases) and is passed over.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
# How an eye is written in file names and manifests: words, initials, and the clinical OD / OS.
EYES = {"left": "left", "l": "left", "os": "left", "right": "right", "r": "right", "od": "right"}
MANIFEST_COLUMNS = ("file", "grade")  # required; eye and patient_id are optional
GRADE_FOLDERS = {str(grade) for grade in range(5)}

log = logging.getLogger(__name__)
# International Clinical DR grade -> project class (DESIGN.md "Classes").
GRADE_TO_CLASS = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2}


def grade_to_class(grade: int) -> int:
    """Fold an ICDR grade 0-4 into the three project classes."""
    if grade not in GRADE_TO_CLASS:
        raise ValueError(f"grade must be 0-4, got {grade!r}")
    return GRADE_TO_CLASS[grade]


@dataclass(frozen=True)
class Sample:
    path: Path
    grade: int
    label: int
    patient_id: str
    eye: str
    source: str
    # Set when the file is already preprocessed (`python -m ml export`): the key of that preprocessing.
    prepared: str = ""


_EYE_IN_NAME = re.compile(r"^(.+?)[_\-\s](left|right|l|r|od|os)\b", flags=re.IGNORECASE)


def patient_from_filename(name: str) -> str:
    # Kaggle files are "<patient>_<eye>.jpeg"; anything else is its own patient (conservative).
    match = _EYE_IN_NAME.match(Path(name).stem)
    return match.group(1) if match else Path(name).stem


def eye_from_filename(name: str) -> str:
    # Only an eye written as its own part of the name: "bright.jpg" is no right eye.
    match = _EYE_IN_NAME.match(Path(name).stem)
    return EYES[match.group(2).lower()] if match else ""


def normalised_eye(value: str) -> str:
    """ "left" / "right" for a manifest's eye however written (L, OS, Right ...); "" when unknown."""
    return EYES.get(value.strip().lower(), "")


PREPARED_FILE = "preprocessed.json"


def prepared_key(root: Path) -> str:
    """The preprocessing key an exported folder was written with, or "" for original photographs."""
    marker = root / PREPARED_FILE
    if not marker.is_file():
        return ""
    try:
        return str(json.loads(marker.read_text())["key"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{marker} is damaged: {error}") from error


def _manifest_rows(manifest: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a manifest.csv, with its header's names stripped and lower-cased; the separator
    (comma, semicolon or tab) is the header's, and a UTF-8 byte-order mark (Excel's "CSV UTF-8") is read
    past. A manifest that cannot be read is a ValueError naming it and what is wrong."""
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{manifest} is not UTF-8 text (byte {error.start}): save it as UTF-8") from error
    header_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header_line.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows:
        return []
    header = [name.strip().lower() for name in rows[0]]
    missing = [name for name in MANIFEST_COLUMNS if name not in header]
    if missing:
        raise ValueError(
            f"{manifest} has no column {', '.join(missing)} (its header: {', '.join(header) or 'empty'}); "
            "expected file,grade with eye and patient_id optional"
        )
    return [
        (number, dict(zip(header, (value.strip() for value in row), strict=False)))
        for number, row in enumerate(rows[1:], start=2)
        if any(value.strip() for value in row)
    ]


def _manifest_sample(root: Path, manifest: Path, number: int, row: dict[str, str]) -> Sample:
    name, grade_text = row.get("file") or "", row.get("grade") or ""
    try:
        if not name:
            raise ValueError("no file named")
        grade = int(grade_text)
        label = grade_to_class(grade)
    except ValueError as error:
        detail = f"grade {grade_text!r} is not a whole number 0-4" if name and not grade_text.isdigit() else error
        raise ValueError(f"{manifest}, line {number}: {detail}") from None
    eye = normalised_eye(row["eye"]) if row.get("eye") else eye_from_filename(name)
    patient = row.get("patient_id") or patient_from_filename(name)
    return Sample(path=root / name, grade=grade, label=label, patient_id=patient, eye=eye, source=root.name)


def _from_manifest(root: Path, manifest: Path) -> list[Sample]:
    rows = _manifest_rows(manifest)
    samples: dict[Path, Sample] = {}
    for number, row in rows:
        sample = _manifest_sample(root, manifest, number, row)
        # A file listed twice is one photograph: graded twice it would count twice in every metric.
        samples.setdefault(sample.path.resolve(), sample)
    if len(rows) > len(samples):
        log.warning("%s lists %d file(s) more than once: each is used once", manifest, len(rows) - len(samples))
    # The manifest's grade is the one used; a file in another grade's folder is worth a look.
    elsewhere = [
        s for s in samples.values() if s.path.parent.name in GRADE_FOLDERS and s.path.parent.name != str(s.grade)
    ]
    if elsewhere:
        log.warning("%d file(s) of %s lie in another grade's folder than their manifest grade (used), e.g. %s",
                    len(elsewhere), manifest, elsewhere[0].path)  # fmt: skip
    _warn_unlisted(root, manifest, set(samples))
    return list(samples.values())


def _warn_unlisted(root: Path, manifest: Path, listed: set[Path]) -> None:
    on_disk = {path.resolve() for path in _grade_folder_images(root)}
    unlisted = on_disk - listed
    if unlisted:
        log.warning("%d photograph(s) in %s's grade folders are not listed in %s and are not used, e.g. %s",
                    len(unlisted), root, manifest.name, sorted(unlisted)[0])  # fmt: skip


def _grade_folder_images(root: Path) -> list[Path]:
    folders = [root / name for name in sorted(GRADE_FOLDERS)]
    return [
        path for folder in folders if folder.is_dir() for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]  # fmt: skip


def _from_folders(root: Path) -> list[Sample]:
    samples = []
    for path in _grade_folder_images(root):
        grade = int(path.parent.name)
        patient, eye = patient_from_filename(path.name), eye_from_filename(path.name)
        samples.append(Sample(path, grade, grade_to_class(grade), patient, eye, root.name))
    return samples


def load_dataset(root: str | Path) -> list[Sample]:
    """All samples of one folder in the arranged layout (`<grade>/<file>` + optional manifest.csv)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    manifest = root / "manifest.csv"
    samples = _from_manifest(root, manifest) if manifest.is_file() else _from_folders(root)
    if not samples:
        raise ValueError(f"no images found in {root} (expected <grade 0-4>/<file> folders)")
    key = prepared_key(root)
    return [replace(s, prepared=key) for s in samples] if key else samples


def load_datasets(roots: Iterable[str | Path]) -> list[Sample]:
    """Samples of several folders, in order. A folder given twice is read once; two folders with one name
    (".../a/data", ".../b/data") are told apart by their paths, since a source name groups examinations
    and pairs eyes: merged, patient 1 of one set would be patient 1 of the other."""
    unique: dict[Path, Path] = {}
    for root in map(Path, roots):
        if root.resolve() in unique:
            log.warning("dataset folder %s was given more than once: it is read once", root)
        unique.setdefault(root.resolve(), root)
    names = [root.name for root in unique.values()]
    samples = []
    for root in unique.values():
        loaded = load_dataset(root)
        if names.count(root.name) > 1:
            loaded = [replace(sample, source=str(root)) for sample in loaded]
        samples.extend(loaded)
    return samples


def split_by_patient(
    samples: Sequence[Sample], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> dict[str, list[Sample]]:
    """Train/val/test split where no patient id is in two splits, stratified by the patient's worst class.

    Patient ids are grouped on the raw id string over every dataset given, because the same EyePACS
    patients appear in more than one set.
    """
    by_patient: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_patient[sample.patient_id].append(sample)
    strata: dict[int, list[str]] = defaultdict(list)
    for patient, items in sorted(by_patient.items()):
        strata[max(s.label for s in items)].append(patient)
    rng = random.Random(seed)
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for _, patients in sorted(strata.items()):
        rng.shuffle(patients)
        # At least one patient per held-out split once a stratum has three, so tiny sets still validate.
        least = 1 if len(patients) >= 3 else 0
        n_val = max(least, round(len(patients) * fractions[1]))
        n_test = max(least, round(len(patients) * fractions[2]))
        parts = {
            "test": patients[:n_test],
            "val": patients[n_test : n_test + n_val],
            "train": patients[n_test + n_val :],
        }
        for name, ids in parts.items():
            for patient in ids:
                splits[name].extend(by_patient[patient])
    return splits


def class_counts(samples: Sequence[Sample]) -> list[int]:
    counts = [0] * len(LABELS)
    for sample in samples:
        counts[sample.label] += 1
    return counts


def summarise(samples: Sequence[Sample]) -> dict[str, object]:
    """Counts per class and per source, for the model card."""
    sources: dict[str, int] = defaultdict(int)
    for sample in samples:
        sources[sample.source] += 1
    return {
        "images": len(samples),
        "patients": len({s.patient_id for s in samples}),
        "per_class": dict(zip(LABELS, class_counts(samples), strict=True)),
        "per_source": dict(sorted(sources.items())),
    }
