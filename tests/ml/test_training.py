from __future__ import annotations

import json
from pathlib import Path

from ml.checkpoint import read_card


def test_one_training_epoch_writes_history_and_curves(tiny_run: Path) -> None:
    history = json.loads((tiny_run / "history.json").read_text())
    assert len(history) == 1
    expected = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy"}
    assert expected <= set(history[0])
    assert (tiny_run / "training_curves.png").stat().st_size > 1000


def test_training_ships_a_calibrated_card_with_test_metrics(tiny_checkpoint: Path) -> None:
    card = read_card(tiny_checkpoint)
    assert card["architecture"] == "vit_tiny_patch16_224"
    assert card["classes"] == ["No DR", "Mild", "Proliferative"]
    assert card["image_size"] == 64
    assert card["temperature"] > 0
    assert {"val_ece_before", "val_ece_after"} <= set(card["calibration"])
    assert card["test_metrics"]["n"] >= 1
    assert len(card["sha256"]) == 64
    assert card["data"]["train"]["images"] >= 1
