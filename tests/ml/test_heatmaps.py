from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ml.heatmaps import AttentionRecorder, cam_layer, gradcam, overlay, place_on_image, rollout
from ml.models import build_model, disable_fused_attention
from ml.preprocess import FieldBox


@pytest.mark.parametrize("class_token", [True, False])
def test_rollout_gives_one_non_constant_map_per_image(class_token: bool) -> None:
    kwargs = {"class_token": class_token, "global_pool": "token" if class_token else "avg"}
    model = build_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, **kwargs).eval()
    disable_fused_attention(model)
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        model(torch.randn(3, 3, 32, 32))
    maps = rollout(recorder.attentions, model.num_prefix_tokens, tuple(model.patch_embed.grid_size))
    assert maps.shape == (3, 4, 4)
    assert maps.min() == 0.0 and maps.max() == pytest.approx(1.0)


def test_rollout_refuses_when_fused_attention_hid_the_matrices() -> None:
    model = build_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=1).eval()
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = True
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="fused attention"):
        rollout(recorder.attentions, model.num_prefix_tokens, (4, 4))


def _reference_placement(grid: np.ndarray, box: FieldBox, size: tuple[int, int]) -> np.ndarray:
    """The straightforward way: resample the whole square with PIL, then cut it to the photograph."""
    square = Image.fromarray(grid, mode="F").resize((round(box.side),) * 2, Image.Resampling.BILINEAR)
    left, top = round(box.left), round(box.top)
    return np.asarray(square.crop((-left, -top, -left + size[0], -top + size[1])), dtype=np.float32)


@pytest.mark.parametrize(
    "box", [FieldBox(84, -90, 864), FieldBox(-30, 10, 600), FieldBox(0, 0, 1024)], ids=["cut", "overhang", "exact"]
)
def test_heatmap_placement_matches_stretching_the_whole_square(box: FieldBox) -> None:
    grid = np.random.default_rng(0).random((5, 5)).astype(np.float32)
    placed = place_on_image(grid, box, (1024, 683))
    assert placed.shape == (683, 1024)
    np.testing.assert_allclose(placed, _reference_placement(grid, box, (1024, 683)), atol=1e-4)


def test_heatmap_is_zero_outside_the_field_square() -> None:
    placed = place_on_image(np.ones((5, 5), np.float32), FieldBox(100, 0, 400), (640, 400))
    assert placed[:, :100].max() == 0.0 and placed[:, 500:].max() == 0.0
    assert placed[:, 100:500].min() == pytest.approx(1.0)


def test_overlay_is_the_photograph_size_and_coloured_by_the_heatmap() -> None:
    photograph = Image.new("RGB", (300, 200), (0, 0, 0))
    heat = np.zeros((200, 300), np.float32)
    heat[:, 150:] = 1.0
    blended = np.asarray(overlay(photograph, heat)).astype(int)
    assert blended.shape == (200, 300, 3)
    # jet: cold (blue) where the heatmap is 0, hot (red) where it is 1.
    assert blended[100, 10, 2] > blended[100, 10, 0]
    assert blended[100, 290, 0] > blended[100, 290, 2]


def test_gradcam_follows_the_class_it_explains() -> None:
    torch.manual_seed(0)
    kwargs = {"img_size": 32, "patch_size": 8, "depth": 2, "global_pool": "avg", "class_token": False}
    model = build_model("vit_tiny_patch16_224", **kwargs).eval()
    x = torch.randn(2, 3, 32, 32)
    maps = {target: gradcam(model, x, torch.tensor([target, target]))[1] for target in range(3)}
    assert maps[0].shape == (2, 4, 4)
    assert maps[0].min() >= 0.0 and maps[0].max() == pytest.approx(1.0)
    # Class-specific: the evidence for one class is not the evidence for another.
    assert not np.allclose(maps[0], maps[2])
    assert not any(parameter.grad is not None for parameter in model.parameters())


def test_gradcam_of_a_frozen_model_matches_the_trainable_one() -> None:
    torch.manual_seed(0)
    model = build_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2).eval()
    x = torch.randn(2, 3, 32, 32)
    logits, maps = gradcam(model, x)
    frozen_logits, frozen_maps = gradcam(model.requires_grad_(False), x)
    torch.testing.assert_close(logits, frozen_logits)
    np.testing.assert_allclose(maps, frozen_maps, atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "kwargs", "layer"),
    [
        ("vit_tiny_patch16_224", {"class_token": False, "global_pool": "avg"}, "blocks.1"),
        ("vit_tiny_patch16_224", {}, "blocks.1.norm1"),
        # timm's own hybrid has a ResNet stem but no stages: its tokens are explained, as before.
        ("vit_tiny_r_s16_p8_224", {"class_token": False, "global_pool": "avg"}, "blocks.1"),
    ],
)
def test_gradcam_explains_the_last_block_of_a_model_without_resnet_stages(
    arch: str, kwargs: dict[str, object], layer: str
) -> None:
    model = build_model(arch, img_size=64, depth=2, **kwargs).eval()
    assert cam_layer(model) == layer
    _, maps = gradcam(model, torch.randn(1, 3, 64, 64))
    assert maps.shape == (1, *model.patch_embed.grid_size)
