from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file
from timm.layers import StdConv2dSame

from ml.checkpoint import CheckpointError, load_checkpoint
from ml.faithfulness import deletion_figure
from ml.heatmaps import cam_layer, gradcam
from ml.models import build_model, fold_weight_standardisation
from ml.predictor import Predictor
from tests.conftest import card_copy

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


def test_gradcam_on_the_hybrid_explains_its_first_resnet_stage() -> None:
    torch.manual_seed(0)
    model = build_model("vit_tiny_r_conv", backbone_layers=[1, 1], img_size=128, **POOLED).eval()
    assert cam_layer(model) == "patch_embed.backbone.stages.0"
    _, maps = gradcam(model, torch.randn(2, 3, 128, 128))
    assert maps.shape == (2, 32, 32)  # the stem's stride 4: eight cells per token side, not one
    assert float(maps.max()) == pytest.approx(1.0)
    assert np.ptp(maps[0]) > 0


def test_gradcam_on_the_hybrid_can_still_explain_the_tokens() -> None:
    model = build_model("vit_tiny_r_conv", backbone_layers=[1, 1], img_size=128, **POOLED).eval()
    _, maps = gradcam(model, torch.randn(2, 3, 128, 128), layer="blocks.1")
    assert maps.shape == (2, 4, 4)


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


def test_the_predictor_explains_the_layer_its_card_names(hybrid_run: Path, tmp_path: Path) -> None:
    predictor = Predictor(card_copy(hybrid_run / "model.safetensors", tmp_path, heatmap_layer="blocks.1"))
    assert predictor.heatmap_layer == "blocks.1"
    _, grids = predictor.probabilities(np.full((1, 64, 64, 3), 128, np.uint8), heatmaps=True)
    assert grids.shape == (1, 2, 2)


def test_a_card_naming_no_such_heatmap_layer_is_refused_at_load(hybrid_run: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"heatmap_layer 'blocks\.9'"):
        Predictor(card_copy(hybrid_run / "model.safetensors", tmp_path, heatmap_layer="blocks.9"))


def test_the_deletion_curve_judges_a_fine_heatmap_on_the_token_grid(
    hybrid_run: Path, fundus_dir: Path, tmp_path: Path
) -> None:
    result = deletion_figure([fundus_dir], tmp_path / "deletion.png", hybrid_run / "model.safetensors", max_images=4)
    assert result["fractions"][-1] == 0.5  # half of the 2x2 token grid, though the heatmap is 16x16
    assert (tmp_path / "deletion.png").is_file()


def _standardised_convs(model: torch.nn.Module) -> int:
    return sum(isinstance(module, StdConv2dSame) for module in model.modules())


def test_folding_the_weight_standardisation_changes_no_grade_and_no_heatmap() -> None:
    torch.manual_seed(0)
    model = build_model("vit_tiny_r_conv", backbone_layers=[1, 1], img_size=128, **POOLED).eval().requires_grad_(False)
    folded = copy.deepcopy(model)
    convs = _standardised_convs(model)
    assert fold_weight_standardisation(folded) == convs > 0
    assert _standardised_convs(folded) == 0
    x = torch.randn(2, 3, 128, 128)
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    layer = cam_layer(model)  # the first ResNet stage: its convolutions are folded too
    np.testing.assert_allclose(gradcam(folded, x, layer=layer)[1], gradcam(model, x, layer=layer)[1], atol=1e-5)


def test_the_predictor_folds_the_standardisation_but_fitting_the_pairing_keeps_the_stored_weights(
    hybrid_run: Path, paired_folder: Path, tmp_path: Path
) -> None:
    from ml.pairing_fit import fit_checkpoint_pairing

    source = hybrid_run / "model.safetensors"
    assert _standardised_convs(Predictor(source).model) == 0
    out = tmp_path / "paired.safetensors"
    fit_checkpoint_pairing([paired_folder], source, out)
    # The file is what training stored: folded weights saved would be standardised a second time on load.
    before, after = load_file(str(source)), load_file(str(out))
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]), name
