from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.__main__ import main
from ml.data import load_dataset
from ml.evaluate import evaluate
from ml.predictor import ImagePrediction, Predictor, default_checkpoint_path

METRIC_KEYS = {
    "n", "accuracy", "balanced_accuracy", "quadratic_weighted_kappa", "macro_f1", "per_class",
    "referable_sensitivity", "referable_specificity", "referable_roc_auc",
}  # fmt: skip


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint: Path) -> Predictor:
    return Predictor(tiny_checkpoint, device="cpu")


def _eyes(fundus_dir: Path) -> list[Image.Image]:
    return [Image.open(fundus_dir / "0" / "p00_right.jpeg"), Image.open(fundus_dir / "2" / "p04_right.jpeg")]


def test_predictor_exposes_version_hash_and_labels(predictor: Predictor) -> None:
    assert predictor.version == "tiny-test"
    assert len(predictor.checkpoint_sha256) == 64
    assert predictor.labels == ("No DR", "Mild", "Proliferative")


def test_confidences_sum_to_one_and_heatmap_has_the_image_shape(predictor: Predictor, fundus_dir: Path) -> None:
    images = _eyes(fundus_dir)
    results = predictor.predict(images)
    assert len(results) == 2
    for image, result in zip(images, results, strict=True):
        assert isinstance(result, ImagePrediction)
        assert set(result.confidences) == set(predictor.labels)
        assert sum(result.confidences.values()) == pytest.approx(1.0)
        assert result.label == predictor.labels[result.class_index]
        assert result.confidences[result.label] == max(result.confidences.values())
        assert result.heatmap.shape == (image.height, image.width)
        assert result.heatmap.dtype == np.float32
        assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
        assert result.heatmap.std() > 0.01
        assert result.overlay.size == image.size and result.overlay.mode == "RGB"
        assert result.inference_seconds > 0


def test_heatmaps_can_be_skipped(predictor: Predictor, fundus_dir: Path) -> None:
    result = predictor.predict(_eyes(fundus_dir)[:1], heatmaps=False)[0]
    assert result.heatmap is None and result.overlay is None


def test_a_batch_grades_each_image_as_it_would_alone(predictor: Predictor, fundus_dir: Path) -> None:
    images = _eyes(fundus_dir)
    together = predictor.predict(images, heatmaps=False)
    alone = predictor.predict(images[1:], heatmaps=False)
    assert together[1].confidences == pytest.approx(alone[0].confidences, abs=1e-5)


def test_default_checkpoint_lives_in_ml_weights() -> None:
    assert default_checkpoint_path().parent.name == "weights"
    assert default_checkpoint_path().suffix == ".safetensors"


def test_evaluate_writes_every_key_and_figure(tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path) -> None:
    metrics = evaluate([fundus_dir], tmp_path, tiny_checkpoint)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert set(written) >= METRIC_KEYS
    assert written["n"] == metrics["n"] == 9
    for name in ("confusion_matrix.png", "roc_referable.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert len((tmp_path / "predictions.csv").read_text().splitlines()) == 10
    # The portal's decision, one per examination (a patient's pair): referable when either eye is.
    examinations = {(s.source, s.patient_id) for s in load_dataset(fundus_dir)}
    assert written["per_examination"]["examinations"] == len(examinations) < 9
    # Patient-bootstrap intervals of the headline metrics, around the measured value.
    intervals = written["confidence_intervals"]
    assert intervals["groups"] == len({s.patient_id for s in load_dataset(fundus_dir)})
    low, high = intervals["balanced_accuracy"]
    assert low <= written["balanced_accuracy"] <= high


def test_predict_command_prints_json_and_writes_heatmaps(
    tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = str(fundus_dir / "4" / "p07_left.jpeg")
    assert main(["predict", image, "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["label"] in ("No DR", "Mild", "Proliferative")
    assert Path(rows[0]["heatmap_overlay"]).is_file()


def test_tsne_examples_and_deletion_curve_figures_are_written(
    tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path
) -> None:
    from ml.examples import examples_figure
    from ml.faithfulness import deletion_figure
    from ml.tsne import tsne_figure

    tsne_figure([fundus_dir], tmp_path / "tsne.png", tiny_checkpoint)
    examples = examples_figure([fundus_dir], tmp_path / "examples.png", tiny_checkpoint, per_class=1)
    result = deletion_figure([fundus_dir], tmp_path / "deletion.png", tiny_checkpoint)
    assert (tmp_path / "tsne.png").stat().st_size > 1000
    assert examples["images"] == 3 and (tmp_path / "examples.png").stat().st_size > 1000
    assert {name: len(curve) for name, curve in result["curves"].items()} == {
        name: len(result["fractions"]) for name in ("heatmap", "rollout", "random")
    }


def test_evaluate_command_reports_a_missing_folder_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    assert "absent" in capsys.readouterr().err
