from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ml.cache import load_images
from ml.data import LABELS, Sample, grade_to_class, load_dataset, split_by_patient
from ml.preprocess import find_field, preprocess


def test_grades_fold_into_three_classes() -> None:
    assert [grade_to_class(g) for g in range(5)] == [0, 1, 1, 2, 2]
    assert LABELS == ("No DR", "Mild", "Proliferative")


def test_grade_outside_zero_to_four_is_refused() -> None:
    with pytest.raises(ValueError, match="0-4"):
        grade_to_class(5)


def test_manifest_gives_class_patient_and_eye(fundus_dir: Path) -> None:
    samples = load_dataset(fundus_dir)
    assert len(samples) == 9
    assert {s.label for s in samples} == {0, 1, 2}
    assert all(s.label == grade_to_class(s.grade) for s in samples)
    assert sum(s.patient_id == "shared" for s in samples) == 2


def test_folder_without_manifest_derives_patient_from_filename(tmp_path: Path, fundus_dir: Path) -> None:
    (tmp_path / "3").mkdir()
    for name in ("42_left.jpeg", "42_right.jpeg", "other.jpeg"):
        (tmp_path / "3" / name).write_bytes((fundus_dir / "0" / "p00_right.jpeg").read_bytes())
    samples = load_dataset(tmp_path)
    assert sorted(s.patient_id for s in samples) == ["42", "42", "other"]
    assert {s.label for s in samples} == {2}
    # ... and the eye, so that a patient's two eyes can be graded together (ml/pairing.py).
    assert sorted((s.patient_id, s.eye) for s in samples) == [("42", "left"), ("42", "right"), ("other", "")]


def _synthetic(patients: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    samples = []
    for p in range(patients):
        for eye in ("left", "right"):
            grade = int(rng.choice(5, p=[0.7, 0.08, 0.14, 0.04, 0.04]))
            samples.append(Sample(Path(f"{p}_{eye}.jpeg"), grade, grade_to_class(grade), str(p), eye, "a"))
    # The same patients again in a second set, as EyePACS appears at two resolutions.
    samples += [Sample(Path("b") / s.path, s.grade, s.label, s.patient_id, s.eye, "b") for s in samples[:200]]
    return samples


def test_split_never_shares_a_patient_between_splits() -> None:
    splits = split_by_patient(_synthetic(500), seed=3)
    ids = {name: {s.patient_id for s in part} for name, part in splits.items()}
    assert not ids["train"] & ids["val"]
    assert not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    assert sum(len(p) for p in splits.values()) == 1200


def test_split_is_stratified_by_worst_class() -> None:
    splits = split_by_patient(_synthetic(500), seed=3)
    for part in ("val", "test"):
        assert {s.label for s in splits[part]} == {0, 1, 2}


def test_field_is_found_around_the_bright_disc(fundus_dir: Path) -> None:
    from PIL import Image

    image = Image.new("RGB", (200, 100))
    image.paste((150, 80, 40), (60, 10, 140, 90))
    box = find_field(image)
    assert box.left == pytest.approx(60, abs=2)
    assert box.side == pytest.approx(80, abs=2)


def test_preprocess_gives_a_square_uint8_image(fundus_dir: Path) -> None:
    from PIL import Image

    array, _ = preprocess(Image.open(fundus_dir / "0" / "p00_right.jpeg"), 48)
    assert array.shape == (48, 48, 3)
    assert array.dtype == np.uint8
    assert array.std() > 1


def test_unreadable_image_is_skipped_with_a_warning_naming_it(
    tmp_path: Path, fundus_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.jpeg"
    broken.write_bytes(b"not a jpeg")
    good = load_dataset(fundus_dir)[:2]
    samples = [*good, Sample(broken, 0, 0, "x", "left", "t")]
    with caplog.at_level(logging.WARNING):
        images, kept = load_images(samples, 32, cache_dir=tmp_path, workers=1, persist=False)
    assert len(kept) == 2 and images.shape == (2, 32, 32, 3)
    assert "broken.jpeg" in caplog.text
