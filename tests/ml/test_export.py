from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.cache import load_images
from ml.data import load_dataset, split_by_patient
from ml.export import export
from ml.train import train
from tests.conftest import tiny_config


@pytest.fixture
def exported(fundus_dir: Path, tmp_path: Path) -> Path:
    assert export([fundus_dir], tmp_path / "copy", size=48, quality=95) == 9
    return tmp_path / "copy" / fundus_dir.name


def test_export_keeps_the_patients_so_the_split_is_the_same(fundus_dir: Path, exported: Path) -> None:
    original, copy = split_by_patient(load_dataset(fundus_dir)), split_by_patient(load_dataset(exported))
    for name in ("train", "val", "test"):
        assert sorted((s.patient_id, s.eye, s.grade) for s in original[name]) == sorted(
            (s.patient_id, s.eye, s.grade) for s in copy[name]
        )


def test_an_exported_copy_loads_as_the_preprocessed_images(fundus_dir: Path, exported: Path, tmp_path: Path) -> None:
    originals, _ = load_images(load_dataset(fundus_dir), 48, cache_dir=tmp_path, workers=1, persist=False)
    copies, kept = load_images(load_dataset(exported), 48, cache_dir=tmp_path, workers=1, persist=False)
    assert copies.shape == originals.shape == (9, 48, 48, 3)
    assert all(s.prepared for s in kept)
    # Decoded, not preprocessed twice: only JPEG's rounding separates the two.
    assert np.abs(copies.astype(float) - originals).mean() < 4


def test_an_exported_copy_is_refused_at_another_size(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="export them again"):
        load_images(load_dataset(exported), 64, cache_dir=tmp_path, workers=1, persist=False)


def test_webp_export_writes_webp_files(fundus_dir: Path, tmp_path: Path) -> None:
    export([fundus_dir], tmp_path, size=32, quality=80, fmt="webp")
    files = sorted((tmp_path / fundus_dir.name).rglob("*.webp"))
    assert len(files) == 9
    marker = json.loads((tmp_path / fundus_dir.name / "preprocessed.json").read_text())
    assert marker["size"] == 32 and marker["format"] == "webp"


def test_a_damaged_export_marker_is_a_clear_error(exported: Path) -> None:
    (exported / "preprocessed.json").write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        load_dataset(exported)


def test_a_run_on_an_exported_copy_says_so_in_its_card(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    card = train(tiny_config(tmp_path / "run", data=[str(exported)], image_size=48))
    assert card["training"]["photographs"] == "exported copy"
