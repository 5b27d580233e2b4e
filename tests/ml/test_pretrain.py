from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ml.pretrain import Contrastive, PretrainConfig, positives, pretrain
from ml.train import train
from tests.conftest import ML_FIXTURES, tiny_config


class _Pooled(torch.nn.Module):
    """A stand-in backbone with timm's num_features, for the loss's arithmetic alone."""

    num_features = 12

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_each_view_finds_its_partner_when_the_views_agree() -> None:
    model = Contrastive(_Pooled(), projection_dim=12, temperature=0.1)
    torch.nn.init.eye_(model.projection[0].weight)
    torch.nn.init.eye_(model.projection[2].weight)
    x = torch.randn(5, 3, 2, 2)
    logits = model(torch.cat([x, x]))
    assert logits.shape == (10, 10)
    assert torch.equal(logits.argmax(1), positives(5, torch.device("cpu")))
    # Never itself: the diagonal is masked out.
    assert (logits.diagonal() < -1000).all()


def _tiny(out: Path) -> PretrainConfig:
    return PretrainConfig(
        data=[str(ML_FIXTURES)],
        out=str(out),
        architecture="vit_tiny_patch16_224",
        image_size=64,
        model_kwargs={"depth": 2, "patch_size": 8},
        epochs=2,
        samples_per_epoch=8,
        batch_size=4,
        knn=3,
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pretrain")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_CACHE_DIR", str(out / "cache"))
        summary = pretrain(_tiny(out))
    assert 0 <= summary["val_knn_balanced_accuracy"] <= 1
    return out


def test_pretraining_writes_a_backbone_and_its_history(pretrained: Path) -> None:
    history = json.loads((pretrained / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(row["train_loss"] > 0 and 0 <= row["pair_accuracy"] <= 1 for row in history)
    state = load_file(str(pretrained / "backbone.safetensors"))
    assert not any(name.startswith(("head", "projection")) for name in state)


def test_training_starts_from_the_pretrained_backbone(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    # lr 0: what training saves is exactly what it loaded, except the new head.
    train(tiny_config(tmp_path / "run", pretrained=str(pretrained / "backbone.safetensors"), lr=0.0))
    backbone = load_file(str(pretrained / "backbone.safetensors"))
    saved = load_file(str(tmp_path / "run" / "best.safetensors"))
    for name, tensor in backbone.items():
        assert torch.equal(tensor, saved[name].float()), name
    assert {"head.weight", "head.bias"} <= set(saved)
