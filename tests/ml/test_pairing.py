"""Both eyes graded together (ml/pairing.py): who pairs with whom, the pool, its fit, and where it is used."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.__main__ import main
from ml.evaluate import evaluate
from ml.pairing import WEIGHTS, Pairing, fit_pairing, partners, pool
from ml.predictor import Predictor
from tests.conftest import paired_copy


def test_partners_pair_one_right_with_one_left_of_the_same_patient_and_set() -> None:
    sources = ["a", "a", "a", "b", "a", "a", "a"]
    patients = ["1", "1", "2", "2", "3", "3", "4"]
    eyes = ["right", "left", "right", "left", "right", "right", ""]
    # Patient 2's eyes are in two sets (not one examination); patient 3 has two right photographs and no
    # left one; patient 4's eye is unknown.
    assert partners(sources, patients, eyes).tolist() == [1, 0, -1, -1, -1, -1, -1]


def test_partners_do_not_pair_a_patient_with_two_photographs_of_one_eye() -> None:
    assert partners(["a"] * 3, ["1"] * 3, ["right", "right", "left"]).tolist() == [-1, -1, -1]


def test_pool_at_weight_zero_and_unit_temperature_changes_nothing() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    np.testing.assert_allclose(pool(probs, np.array([1, 0]), 0.0), probs)


def test_pool_at_half_weight_gives_both_eyes_the_normalised_geometric_mean() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    pooled = pool(probs, np.array([1, 0]), 0.5)
    mean = np.sqrt(probs[0] * probs[1])
    np.testing.assert_allclose(pooled[0], mean / mean.sum())
    np.testing.assert_allclose(pooled[1], pooled[0])
    np.testing.assert_allclose(pooled.sum(axis=1), 1.0)


def test_pool_leaves_a_photograph_without_its_other_eye_exactly_as_it_was() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    pooled = pool(probs, np.array([1, 0, -1]), 0.4, temperature=0.5)
    assert pooled[2].tolist() == probs[2].tolist()
    assert not np.allclose(pooled[0], probs[0])


def _pairs_where_the_other_eye_knows_better() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six patients, both eyes of each the same class. Each patient's right eye is confidently right; the
    left eye leans slightly to a wrong class, so only the right eye's evidence puts it right."""
    probs, labels = [], []
    for label in (0, 1, 2, 0, 1, 2):
        right = np.full(3, 0.05)
        right[label] = 0.9
        left = np.full(3, 0.3)
        left[(label + 1) % 3] = 0.4
        probs += [right, left]
        labels += [label, label]
    partner = np.array([i + 1 if i % 2 == 0 else i - 1 for i in range(12)])
    return np.array(probs), np.array(labels), partner


def test_fit_pairing_borrows_from_the_other_eye_when_that_grades_better() -> None:
    probs, labels, partner = _pairs_where_the_other_eye_knows_better()
    pairing, table = fit_pairing(probs, labels, partner)
    assert pairing.weight > 0
    assert [row["weight"] for row in table] == list(WEIGHTS)
    assert (pairing.pool(probs, partner).argmax(1) == labels).all()
    assert (probs.argmax(1) == labels).mean() == 0.5  # alone, every left eye was wrong


def test_fit_pairing_keeps_the_eyes_apart_when_the_other_eye_only_misleads() -> None:
    probs, labels, partner = _pairs_where_the_other_eye_knows_better()
    # Now the right eyes' confident classes are the wrong ones and the left eyes are right on their own.
    wrong = (labels + 1) % 3
    probs = np.where(np.arange(12)[:, None] % 2 == 0, np.eye(3)[wrong] * 0.85 + 0.05, np.eye(3)[labels] * 0.2 + 0.25)
    pairing, _ = fit_pairing(probs, labels, partner)
    assert pairing.weight == 0.0


def test_fit_pairing_refuses_photographs_without_any_pair() -> None:
    with pytest.raises(ValueError, match="other eye"):
        fit_pairing(np.full((2, 3), 1 / 3), np.array([0, 1]), np.array([-1, -1]))


def test_predictor_grades_a_named_right_and_left_eye_together(
    tiny_checkpoint: Path, tmp_path: Path, fundus_dir: Path
) -> None:
    paired = Predictor(paired_copy(tiny_checkpoint, tmp_path, 0.5))
    images = [Image.open(fundus_dir / "0" / "p00_right.jpeg"), Image.open(fundus_dir / "4" / "p07_left.jpeg")]
    alone = paired.predict(images, heatmaps=False)
    together = paired.predict(images, heatmaps=True, eyes=["right", "left"])
    single = np.array([[r.confidences[label] for label in paired.labels] for r in alone])
    expected = pool(single, np.array([1, 0]), 0.5)
    for image, result, row in zip(images, together, expected, strict=True):
        np.testing.assert_allclose([result.confidences[label] for label in paired.labels], row, atol=1e-5)
        assert result.class_index == int(row.argmax())
        assert result.heatmap is not None and result.heatmap.shape == (image.height, image.width)
        assert result.other_eye_used
    assert not np.allclose(single[0], single[1])  # the pool made two different eyes agree


def test_predictor_without_pairing_in_its_card_grades_each_eye_alone(tiny_checkpoint: Path, fundus_dir: Path) -> None:
    predictor = Predictor(tiny_checkpoint)
    assert predictor.pairing is None
    images = [Image.open(fundus_dir / "0" / "p00_right.jpeg"), Image.open(fundus_dir / "4" / "p07_left.jpeg")]
    alone = predictor.predict(images, heatmaps=False)
    named = predictor.predict(images, heatmaps=False, eyes=["right", "left"])
    for a, b in zip(alone, named, strict=True):
        assert a.confidences == pytest.approx(b.confidences)


def test_predictor_refuses_eyes_that_do_not_match_the_images(tiny_checkpoint: Path, fundus_dir: Path) -> None:
    with pytest.raises(ValueError, match="1 eyes named for 2 images"):
        Predictor(tiny_checkpoint).predict([Image.open(fundus_dir / "0" / "p00_right.jpeg")] * 2, eyes=["right"])


def test_fit_pairing_command_writes_the_section_and_keeps_the_version(
    tiny_checkpoint: Path, paired_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "paired.safetensors"
    assert (
        main(["fit-pairing", "--data", str(paired_folder), "--checkpoint", str(tiny_checkpoint), "--out", str(out)])
        == 0
    )
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["pairing"]["weight"] in WEIGHTS
    assert card["pairing"]["temperature"] > 0
    assert "3 photographs" not in card["pairing"]["fitted_on"] and "6 photographs" in card["pairing"]["fitted_on"]
    # Same weights, same version: whether an examination's eyes were graded together, each prediction says.
    assert card["version"] == "tiny-test"
    assert card["test_metrics"]["n"] == card["pairing"]["test_metrics"]["n"]  # each eye alone / together
    assert Predictor(out).pairing == Pairing.from_card(card)
    assert main(["fit-pairing", "--data", str(paired_folder), "--checkpoint", str(out)]) == 0  # again, in place
    assert json.loads(out.with_suffix(".json").read_text())["pairing"]["weight"] == card["pairing"]["weight"]


def test_fit_pairing_command_refuses_data_without_pairs(
    tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "never.safetensors"
    assert (
        main(["fit-pairing", "--data", str(fundus_dir), "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 2
    )
    assert not out.exists()


def test_evaluate_grades_each_eye_with_its_other_eye_and_reports_both(
    tiny_checkpoint: Path, paired_folder: Path, tmp_path: Path
) -> None:
    checkpoint = paired_copy(tiny_checkpoint, tmp_path / "model", 0.5)
    metrics = evaluate([paired_folder], tmp_path / "out", checkpoint, bootstrap=0, eyes_together=True)
    assert metrics["pairing"]["used"] is True
    assert metrics["pairing"]["photographs_with_other_eye"] == 18
    assert "quadratic_weighted_kappa" in metrics["pairing"]["single_eye"]
    with (tmp_path / "out" / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["other_eye_used"] for row in rows} == {"yes"}
    # Weight 0.5: both eyes of a patient end with the same probabilities.
    by_patient: dict[str, set[str]] = {}
    for row in rows:
        by_patient.setdefault(row["patient_id"], set()).add(row["p_Mild"])
    assert all(len(values) == 1 for values in by_patient.values())


def test_evaluate_grades_each_eye_alone_by_default_and_reports_the_pairing_beside(
    tiny_checkpoint: Path, paired_folder: Path, tmp_path: Path
) -> None:
    checkpoint = paired_copy(tiny_checkpoint, tmp_path / "model", 0.5)
    metrics = evaluate([paired_folder], tmp_path / "out", checkpoint, bootstrap=0)
    assert metrics["pairing"]["used"] is False
    assert "quadratic_weighted_kappa" in metrics["pairing"]["eyes_together"]
    alone = evaluate([paired_folder], tmp_path / "plain", tiny_checkpoint, bootstrap=0)
    assert metrics["confusion_matrix"] == alone["confusion_matrix"]  # the headline: each eye alone
    with (tmp_path / "out" / "predictions.csv").open() as handle:
        assert {row["other_eye_used"] for row in csv.DictReader(handle)} == {"no"}


def test_evaluate_eyes_together_on_a_folder_without_pairs_says_none_were_paired(
    tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import shutil

    single = tmp_path / "single"
    (single / "0").mkdir(parents=True)
    shutil.copy(fundus_dir / "0" / "p00_right.jpeg", single / "0" / "a_right.jpeg")
    checkpoint = paired_copy(tiny_checkpoint, tmp_path / "model", 0.5)
    with caplog.at_level(logging.WARNING):
        metrics = evaluate([single], tmp_path / "out", checkpoint, bootstrap=0, eyes_together=True)
    # It said "used": true with 0 photographs paired before.
    assert metrics["pairing"]["used"] is False and metrics["pairing"]["photographs_with_other_eye"] == 0
    assert "no photograph has its other eye" in caplog.text


def test_evaluate_without_pairing_says_so(tiny_checkpoint: Path, paired_folder: Path, tmp_path: Path) -> None:
    metrics = evaluate([paired_folder], tmp_path, tiny_checkpoint, bootstrap=0)
    assert metrics["pairing"]["used"] is False
    with pytest.raises(ValueError, match="no pairing"):
        evaluate([paired_folder], tmp_path, tiny_checkpoint, bootstrap=0, eyes_together=True)


def test_training_fits_pairing_on_validation_and_keeps_the_single_eye_test_metrics(
    paired_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.train import train
    from tests.conftest import tiny_config

    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    card = train(tiny_config(tmp_path / "run", data=[str(paired_folder)], version="tiny-paired"))
    assert card["pairing"]["weight"] in WEIGHTS
    assert "6 photographs" in card["pairing"]["fitted_on"]
    assert card["test_metrics"]["n"] == card["pairing"]["test_metrics"]["n"] == 6


def test_training_without_pairs_in_validation_grades_the_eyes_apart(tiny_checkpoint: Path) -> None:
    card = json.loads(tiny_checkpoint.with_suffix(".json").read_text())
    assert "pairing" not in card


def test_predict_command_grades_a_patients_two_named_eyes_together(
    tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = paired_copy(tiny_checkpoint, tmp_path / "model", 0.5)
    files = {"7_right.jpeg": "0/p00_right.jpeg", "7_left.jpeg": "4/p07_left.jpeg", "other.jpeg": "2/p04_right.jpeg"}
    for name, original in files.items():
        shutil.copy(fundus_dir / original, tmp_path / name)
    paths = [str(tmp_path / name) for name in files]
    command = ["predict", *paths, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out")]
    assert main(command) == 0
    assert [row["other_eye_used"] for row in json.loads(capsys.readouterr().out)] == [False] * 3  # by default
    assert main([*command, "--eyes-together"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["other_eye_used"] for row in rows] == [True, True, False]
    assert rows[0]["confidences"] == pytest.approx(rows[1]["confidences"], abs=1e-6)


def test_predictor_pairs_eyes_only_within_each_named_patient(tiny_checkpoint: Path, fundus_dir: Path) -> None:
    predictor = Predictor(tiny_checkpoint)
    predictor.pairing = Pairing(0.5)
    images = [Image.open(fundus_dir / "0" / "p00_right.jpeg"), Image.open(fundus_dir / "4" / "p07_left.jpeg")]
    apart = predictor.predict(images, heatmaps=False, eyes=["right", "left"], patients=["a", "b"])
    alone = predictor.predict(images, heatmaps=False)
    for a, b in zip(apart, alone, strict=True):
        assert a.confidences == pytest.approx(b.confidences)
    with pytest.raises(ValueError, match="one patient per image"):
        predictor.predict(images, eyes=["right", "left"], patients=["a"])
