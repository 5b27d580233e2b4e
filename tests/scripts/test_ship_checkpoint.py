from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from ml.checkpoint import read_card
from ml.evaluate import evaluate
from ml.predictor import Predictor
from tests.conftest import ML_FIXTURES, card_copy
from tests.scripts.conftest import load_script


@pytest.fixture(scope="module")
def ship() -> ModuleType:
    return load_script("ship_checkpoint")


def test_prepare_writes_the_release_version_and_keeps_the_run_test_figures_apart(
    ship: ModuleType, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dr-vit.safetensors"
    arguments = ["prepare", str(tiny_checkpoint), "v-release", "--heatmap-layer", "blocks.1", "--out", str(out)]
    assert ship.main(arguments) == 0
    card = read_card(out)  # the sidecar, checked against the new file's hash
    assert card["version"] == "v-release"
    assert card["heatmap_layer"] == "blocks.1"
    # Trained on the original photographs: its own figures are training's, and no data copy is claimed.
    assert "test_metrics" not in card and "test_metrics_at_training" in card
    assert "data_copy" not in card["training"]
    assert Predictor(out).heatmap_layer == "blocks.1"


@pytest.mark.parametrize("photographs", ["exported copy", None])  # None: a card from before the field
def test_prepare_says_how_the_exported_copy_of_a_gpu_run_was_made(
    ship: ModuleType, tiny_checkpoint: Path, tmp_path: Path, photographs: str | None
) -> None:
    training = {k: v for k, v in read_card(tiny_checkpoint)["training"].items() if k != "photographs"}
    if photographs:
        training["photographs"] = photographs
    run = card_copy(tiny_checkpoint, tmp_path / "run", training=training)
    card = ship.prepare(run, "v-release", tmp_path / "dr-vit.safetensors")
    assert "test_metrics_on_exported_copy" in card and "test_metrics_at_training" not in card
    assert card["training"]["data_copy"].startswith("python -m ml export")


def test_prepare_refuses_a_heatmap_layer_the_model_lacks(
    ship: ModuleType, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    with pytest.raises(AttributeError):
        ship.prepare(tiny_checkpoint, "v", tmp_path / "x.safetensors", "blocks.9")
    assert not (tmp_path / "x.safetensors").exists()


def test_record_test_puts_the_evaluation_of_this_very_file_in_its_card(
    ship: ModuleType, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dr-vit.safetensors"
    ship.prepare(tiny_checkpoint, "v-release", out)
    evaluate([ML_FIXTURES], tmp_path / "eval", out, bootstrap=0)
    ship.record_test(tmp_path / "eval" / "metrics.json", out)
    card = read_card(out)
    measured = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert card["test_metrics"]["quadratic_weighted_kappa"] == measured["quadratic_weighted_kappa"]
    assert card["test_metrics_measured_on"].startswith("the original photographs")


def test_record_test_refuses_figures_measured_on_another_file(
    ship: ModuleType, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    evaluate([ML_FIXTURES], tmp_path / "eval", tiny_checkpoint, bootstrap=0)
    out = tmp_path / "dr-vit.safetensors"
    ship.prepare(tiny_checkpoint, "v-release", out)
    with pytest.raises(SystemExit, match="not measured on"):
        ship.record_test(tmp_path / "eval" / "metrics.json", out)


def test_curves_continue_the_earlier_run_as_a_later_stage(ship: ModuleType, tmp_path: Path) -> None:
    row = {"train_loss": 1.0, "val_loss": 1.0, "train_accuracy": 0.5, "val_accuracy": 0.5}
    row |= {"val_balanced_accuracy": 0.4, "val_quadratic_weighted_kappa": 0.3}
    earlier, later = tmp_path / "earlier.json", tmp_path / "later.json"
    earlier.write_text(json.dumps([row | {"epoch": 1}, row | {"epoch": 2}]))
    later.write_text(json.dumps([row | {"epoch": 1}]))
    out = tmp_path / "docs" / "history.json"
    out.parent.mkdir()
    assert ship.main(["curves", str(earlier), str(later), "--out", str(out)]) == 0
    joined = json.loads(out.read_text())
    assert [(r["epoch"], r["stage"]) for r in joined] == [(1, 1), (2, 1), (3, 2)]
    assert (out.parent / "training_curves.png").stat().st_size > 0
