"""Fine-tuning a pretrained body (ml/finetune.py): the body's own rate, frozen stages, a frozen warm-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.checkpoint import read_card
from ml.finetune import early_stages, frozen_for_epoch, parameter_groups, train_mode
from ml.models import build_model
from ml.predictor import Predictor
from ml.train import OrdinalCostLoss, make_optimizer, training_step
from tests.conftest import tiny_config


def _hybrid() -> torch.nn.Module:
    return build_model("vit_efficientnet_lite0", pretrained="efficientnet-lite0", img_size=64, depth=1)


def test_the_body_learns_at_its_fraction_of_the_rate_and_the_new_blocks_at_the_full_rate() -> None:
    model = _hybrid()
    groups = parameter_groups(model, weight_decay=0.05, body_lr_scale=0.25)
    body = {id(p) for p in model.patch_embed.backbone.parameters()}
    for group in groups:
        in_body = {id(p) in body for p in group["params"]}
        assert len(in_body) == 1  # a group is all body or all new
        assert group["lr_scale"] == (0.25 if in_body == {True} else 1.0)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_a_plain_efficientnet_scales_all_but_its_new_classifier() -> None:
    model = build_model("tf_efficientnet_lite0", pretrained="efficientnet-lite0")
    head = {id(p) for p in model.classifier.parameters()}
    for group in parameter_groups(model, weight_decay=0.05, body_lr_scale=0.1):
        expected = 1.0 if all(id(p) in head for p in group["params"]) else 0.1
        assert group["lr_scale"] == expected


def test_a_training_step_leaves_frozen_stages_and_their_statistics_as_they_were() -> None:
    torch.manual_seed(0)
    model = _hybrid()
    frozen = frozen_for_epoch(model, epoch=1, frozen_stages=2, freeze_body_epochs=0)
    assert frozen == early_stages(model, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = make_optimizer(model, tiny_config(Path("unused"), lr=1e-2, body_lr_scale=0.5))
    train_mode(model, frozen)
    x, labels = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 1])
    _, loss, applied = training_step(model, x, labels, optimizer, OrdinalCostLoss(), grad_clip=1.0)
    assert applied and torch.isfinite(loss)
    after = model.state_dict()
    stem = "patch_embed.backbone.conv_stem.weight"
    assert torch.equal(after[stem], before[stem])
    assert torch.equal(after["patch_embed.backbone.bn1.running_mean"], before["patch_embed.backbone.bn1.running_mean"])
    assert torch.equal(
        after["patch_embed.backbone.blocks.1.0.bn1.running_var"],
        before["patch_embed.backbone.blocks.1.0.bn1.running_var"],
    )
    # Later stages and the new blocks did learn, and the later stages' statistics moved.
    assert not torch.equal(
        after["patch_embed.backbone.blocks.3.0.conv_pw.weight"],
        before["patch_embed.backbone.blocks.3.0.conv_pw.weight"],
    )
    assert not torch.equal(after["blocks.0.attn.qkv.weight"], before["blocks.0.attn.qkv.weight"])
    assert not torch.equal(
        after["patch_embed.backbone.blocks.3.0.bn1.running_mean"],
        before["patch_embed.backbone.blocks.3.0.bn1.running_mean"],
    )


def test_the_whole_body_is_frozen_during_the_warm_up_and_free_after_it() -> None:
    model = _hybrid()
    body = model.patch_embed.backbone
    frozen_for_epoch(model, epoch=1, frozen_stages=0, freeze_body_epochs=1)
    assert not any(p.requires_grad for p in body.parameters())
    assert all(p.requires_grad for p in model.blocks.parameters())
    frozen_for_epoch(model, epoch=2, frozen_stages=0, freeze_body_epochs=1)
    assert all(p.requires_grad for p in model.parameters())


def test_a_plain_efficientnets_warm_up_trains_only_its_new_classifier() -> None:
    model = build_model("tf_efficientnet_lite0", pretrained="efficientnet-lite0")
    frozen_for_epoch(model, epoch=1, frozen_stages=2, freeze_body_epochs=1)
    assert [name for name, p in model.named_parameters() if p.requires_grad] == ["classifier.weight", "classifier.bias"]


def test_freezing_needs_a_pretrained_body() -> None:
    model = build_model("vit_tiny_r_conv", img_size=64, depth=1)
    with pytest.raises(ValueError, match="EfficientNet body"):
        frozen_for_epoch(model, epoch=1, frozen_stages=2, freeze_body_epochs=0)
    with pytest.raises(ValueError, match="has 7 stages; cannot freeze 8"):
        early_stages(_hybrid(), 8)


def test_the_pretrained_hybrid_trains_and_records_its_recipe(pretrained_hybrid_run: Path) -> None:
    card = read_card(pretrained_hybrid_run / "model.safetensors")
    assert card["architecture"] == "vit_efficientnet_lite0"
    assert card["training"]["pretrained"] == "efficientnet-lite0"
    assert card["training"]["body_lr_scale"] == 0.2
    assert card["training"]["frozen_stages"] == 2
    assert card["normalisation"] == {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def test_the_predictor_grades_with_the_pretrained_hybrid_and_gives_a_heatmap(
    pretrained_hybrid_run: Path, fundus_dir: Path
) -> None:
    predictor = Predictor(pretrained_hybrid_run / "model.safetensors")
    with Image.open(fundus_dir / "0" / "p00_right.jpeg") as opened:
        image = opened.convert("RGB")
    results = predictor.predict([image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], eyes=["right", "left"])
    assert len(results) == 2
    for result in results:
        assert sum(result.confidences.values()) == pytest.approx(1.0)
        assert result.heatmap is not None and result.heatmap.shape == (image.height, image.width)
        assert float(result.heatmap.min()) >= 0.0 and float(result.heatmap.max()) <= 1.0 + 1e-6
        assert np.isfinite(result.heatmap).all()
        assert result.overlay is not None and result.overlay.size == image.size


def test_a_plain_efficientnets_new_classifier_starts_near_even_odds_on_pretrained_features() -> None:
    torch.manual_seed(0)
    model = build_model("tf_efficientnet_lite0", pretrained="efficientnet-lite0").eval()
    with torch.inference_mode():
        logits = model(torch.randn(4, 3, 128, 128))
    # timm's own init gave logits in the tens here: a first epoch spent only on shrinking them.
    assert float(logits.abs().max()) < 3.0
