from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from ml.checkpoint import load_checkpoint
from ml.heatmaps import gradcam
from ml.models import build_model
from ml.predictor import Predictor
from tests.conftest import tiny_config

POOLED = {"depth": 2, "class_token": False, "global_pool": "avg"}


def test_the_hybrid_is_a_timm_model_once_ml_is_imported() -> None:
    assert timm.is_model("vit_tiny_r_conv")


@pytest.mark.parametrize("layers", [[1], [1, 1], [1, 1, 1]])
def test_every_backbone_depth_gives_one_token_per_32_pixels(layers: list[int]) -> None:
    model = build_model("vit_tiny_r_conv", backbone_layers=layers, img_size=256, **POOLED).eval()
    assert tuple(model.patch_embed.grid_size) == (8, 8)
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 256, 256)).shape == (1, 3)


def test_the_backbone_has_real_resnet_stages() -> None:
    model = build_model("vit_tiny_r_conv", backbone_layers=[2, 1], img_size=64, **POOLED)
    stages = model.patch_embed.backbone.stages
    assert [len(stage.blocks) for stage in stages] == [2, 1]


@pytest.mark.parametrize("layers", [[], [1, 1, 1, 1], [0, 2]])
def test_an_impossible_backbone_is_refused_by_name(layers: list[int]) -> None:
    with pytest.raises(ValueError, match="backbone_layers"):
        build_model("vit_tiny_r_conv", backbone_layers=layers, img_size=64, **POOLED)


def test_the_normalisation_is_the_one_the_card_records() -> None:
    model = build_model("vit_tiny_r_conv", img_size=64, **POOLED)
    assert model.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)
    assert model.pretrained_cfg["std"] == (0.5, 0.5, 0.5)


def test_gradcam_on_the_hybrid_covers_its_token_grid() -> None:
    torch.manual_seed(0)
    model = build_model("vit_tiny_r_conv", backbone_layers=[1, 1], img_size=128, **POOLED).eval()
    _, maps = gradcam(model, torch.randn(2, 3, 128, 128))
    assert maps.shape == (2, 4, 4)
    assert float(maps.max()) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def hybrid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of the hybrid trained here on the fixture photographs, through the training entry point."""
    from ml.train import train

    root = tmp_path_factory.mktemp("hybrid-run")
    kwargs = {"backbone_layers": [1, 1], **POOLED}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_CACHE_DIR", str(root / "cache"))
        train(tiny_config(root / "run", architecture="vit_tiny_r_conv", model_kwargs=kwargs, version="hybrid"))
    return root / "run"


def test_a_trained_hybrid_checkpoint_rebuilds_itself(hybrid_run: Path) -> None:
    model, card = load_checkpoint(hybrid_run / "model.safetensors")
    assert card["architecture"] == "vit_tiny_r_conv"
    assert [len(stage.blocks) for stage in model.patch_embed.backbone.stages] == [1, 1]


def test_the_predictor_grades_with_the_hybrid(hybrid_run: Path, fundus_dir: Path) -> None:
    photograph = next((fundus_dir / "2").iterdir())
    with Image.open(photograph) as image:
        (result,) = Predictor(hybrid_run / "model.safetensors").predict([image])
        size = image.size
    assert sum(result.confidences.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.heatmap.shape == (size[1], size[0])
    assert np.ptp(result.heatmap) > 0
