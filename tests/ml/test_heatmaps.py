from __future__ import annotations

import pytest
import torch

from ml.heatmaps import AttentionRecorder, rollout
from ml.models import build_model, disable_fused_attention


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
