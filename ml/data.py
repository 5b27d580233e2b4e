"""Datasets in the arranged layout, the 0-4 to 3-class mapping and the patient-level split."""

from __future__ import annotations

import csv
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

LABELS: tuple[str, ...] = ("No DR", "Mild", "Proliferative")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
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


def patient_from_filename(name: str) -> str:
    # Kaggle files are "<patient>_<eye>.jpeg"; anything else is its own patient (conservative).
    match = re.match(r"^(.+?)[_-](left|right|l|r)\b", Path(name).stem, flags=re.IGNORECASE)
    return match.group(1) if match else Path(name).stem


def eye_from_filename(name: str) -> str:
    stem = Path(name).stem.lower()
    if stem.endswith(("left", "_l")):
        return "left"
    if stem.endswith(("right", "_r")):
        return "right"
    return ""


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


def _from_manifest(root: Path, manifest: Path) -> list[Sample]:
    samples = []
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            grade = int(row["grade"])
            patient = (row.get("patient_id") or "").strip() or patient_from_filename(row["file"])
            samples.append(
                Sample(
                    path=root / row["file"],
                    grade=grade,
                    label=grade_to_class(grade),
                    patient_id=patient,
                    eye=(row.get("eye") or eye_from_filename(row["file"])).strip(),
                    source=root.name,
                )
            )
    return samples


def _from_folders(root: Path) -> list[Sample]:
    samples = []
    for grade in range(5):
        folder = root / str(grade)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
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
    """Samples of several folders, in order."""
    return [sample for root in roots for sample in load_dataset(root)]


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
