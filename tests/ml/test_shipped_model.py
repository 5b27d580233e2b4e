"""The shipped checkpoint and the documents that describe it say the same thing (docs/model/)."""

from __future__ import annotations

import json
from pathlib import Path

from ml.checkpoint import read_card, sha256_of
from ml.predictor import default_checkpoint_path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "model"


def test_the_shipped_card_matches_its_weights_file() -> None:
    weights = default_checkpoint_path()
    assert read_card(weights)["sha256"] == sha256_of(weights)


def test_the_model_card_names_the_shipped_version_and_hash() -> None:
    card = read_card(default_checkpoint_path())
    text = (DOCS / "MODEL_CARD.md").read_text()
    assert card["version"] in text
    assert card["sha256"] in text  # it once named the file as it was before its card was last rewritten


def test_the_published_test_figures_were_measured_on_the_shipped_file() -> None:
    card = read_card(default_checkpoint_path())
    metrics = json.loads((DOCS / "test" / "metrics.json").read_text())
    assert metrics["checkpoint_sha256"] == card["sha256"]
    assert metrics["model_version"] == card["version"]
    assert card["test_metrics"]["quadratic_weighted_kappa"] == metrics["quadratic_weighted_kappa"]


def test_the_default_architecture_is_the_shipped_one() -> None:
    from safetensors.torch import load_file

    from ml.models import build_model
    from ml.train import TrainConfig

    card = read_card(default_checkpoint_path())
    assert TrainConfig(data=[]).architecture == card["architecture"] == "vit_tiny_r_conv"
    default = build_model(card["architecture"], img_size=card["image_size"]).state_dict()
    shipped = load_file(str(default_checkpoint_path()))
    assert {k: tuple(v.shape) for k, v in default.items()} == {k: tuple(v.shape) for k, v in shipped.items()}
