from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ml.models import UnknownArchitectureError, build_model
from ml.predictor import Predictor


def _copy(checkpoint: Path, folder: Path) -> Path:
    target = folder / checkpoint.name
    shutil.copy(checkpoint, target)
    shutil.copy(checkpoint.with_suffix(".json"), target.with_suffix(".json"))
    return target


def test_truncated_checkpoint_fails_with_a_clear_message(tiny_checkpoint: Path, tmp_path: Path) -> None:
    broken = _copy(tiny_checkpoint, tmp_path)
    broken.write_bytes(broken.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(broken)


def test_altered_weights_do_not_match_the_card(tiny_checkpoint: Path, tmp_path: Path) -> None:
    altered = _copy(tiny_checkpoint, tmp_path)
    data = bytearray(altered.read_bytes())
    data[-10] ^= 0xFF
    altered.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        Predictor(altered)


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.safetensors"):
        Predictor(tmp_path / "nowhere.safetensors")


def test_unknown_architecture_fails_with_a_clear_message() -> None:
    with pytest.raises(UnknownArchitectureError, match="unknown architecture 'vit_imaginary'"):
        build_model("vit_imaginary")


def test_card_naming_an_unknown_architecture_fails_clearly(tmp_path: Path) -> None:
    model = build_model("vit_tiny_patch16_224", img_size=32, depth=1, patch_size=8)
    path = tmp_path / "m.safetensors"
    save_checkpoint(model, path, {"architecture": "vit_nonexistent", "classes": ["a", "b", "c"], "image_size": 32})
    with pytest.raises(UnknownArchitectureError, match="vit_nonexistent"):
        load_checkpoint(path)


def test_fp16_checkpoint_round_trips_the_predictions(tmp_path: Path) -> None:
    model = build_model("vit_tiny_patch16_224", img_size=32, depth=1, patch_size=8).eval()
    card = {"architecture": "vit_tiny_patch16_224", "classes": ["a", "b", "c"], "image_size": 32,
            "model_kwargs": {"img_size": 32, "depth": 1, "patch_size": 8}}  # fmt: skip
    save_checkpoint(model, tmp_path / "m.safetensors", card)
    loaded, _ = load_checkpoint(tmp_path / "m.safetensors")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-2)


def test_pretrained_weights_load_from_a_local_file_with_a_new_head(tmp_path: Path) -> None:
    donor = build_model("vit_tiny_patch16_224", num_classes=10, img_size=32, depth=1, patch_size=8)
    torch.save(donor.state_dict(), tmp_path / "donor.pth")
    model = build_model("vit_tiny_patch16_224", pretrained=tmp_path / "donor.pth", img_size=32, depth=1, patch_size=8)
    assert torch.equal(model.blocks[0].attn.qkv.weight, donor.blocks[0].attn.qkv.weight)
    assert model.head.out_features == 3


def test_missing_pretrained_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.pth"):
        build_model("vit_tiny_patch16_224", pretrained=tmp_path / "absent.pth")


def test_import_ml_does_not_import_django() -> None:
    code = (
        "import sys, ml, ml.predictor, ml.evaluate, ml.train, ml.tsne, ml.faithfulness, ml.examples; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_224_px_class_token_checkpoint_keeps_its_positions_at_256_px_without_one(tmp_path: Path) -> None:
    # The usual public checkpoint (224 px, a class token) against the shipped recipe (256 px, average pool):
    # the position embedding is resampled to the 8 x 8 grid instead of being dropped for its shape.
    donor = build_model("vit_tiny_r_s16_p8_224", num_classes=10, depth=1)
    assert donor.pos_embed.shape == (1, 1 + 7 * 7, 192)
    torch.save(donor.state_dict(), tmp_path / "donor.pth")
    kwargs = {"img_size": 256, "depth": 1, "class_token": False, "global_pool": "avg"}
    model = build_model("vit_tiny_r_s16_p8_224", pretrained=tmp_path / "donor.pth", **kwargs)
    assert model.pos_embed.shape == (1, 8 * 8, 192)
    grid = donor.pos_embed.detach()[:, 1:].reshape(1, 7, 7, 192).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(8, 8), mode="bicubic", antialias=True, align_corners=False)
    assert torch.allclose(model.pos_embed.detach(), expected.permute(0, 2, 3, 1).reshape(1, 64, 192), atol=1e-5)
    assert torch.equal(model.blocks[0].attn.qkv.weight, donor.blocks[0].attn.qkv.weight)


def test_a_class_token_model_keeps_the_checkpoints_class_position(tmp_path: Path) -> None:
    donor = build_model("vit_tiny_patch16_224", num_classes=10, img_size=32, depth=1, patch_size=8)
    torch.save(donor.state_dict(), tmp_path / "donor.pth")
    model = build_model("vit_tiny_patch16_224", pretrained=tmp_path / "donor.pth", img_size=64, depth=1, patch_size=8)
    assert model.pos_embed.shape == (1, 1 + 8 * 8, 192)
    assert torch.equal(model.pos_embed[:, :1], donor.pos_embed[:, :1])
    assert torch.equal(model.cls_token, donor.cls_token)
