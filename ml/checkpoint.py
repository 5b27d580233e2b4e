"""Checkpoints: safetensors weights (with the card in the file's metadata) plus a JSON model card beside them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ml.models import build_model


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, altered, or not a model card we understand."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_checkpoint(model: nn.Module, path: str | Path, card: dict[str, Any], half: bool = True) -> dict[str, Any]:
    """Write weights (fp16 by default: half the size, same predictions to ~1e-3) and the card; return the card."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    state = {
        k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
        for k, v in model.state_dict().items()
    }
    # The card travels inside the weights file too, so a lone .safetensors is still self-describing.
    save_file(state, str(path), metadata={"model_card": json.dumps(card)})
    full = {**card, "weights_file": path.name, "sha256": sha256_of(path), "dtype": str(dtype).removeprefix("torch.")}
    card_path(path).write_text(json.dumps(full, indent=2) + "\n")
    return full


def read_card(path: Path) -> dict[str, Any]:
    """The model card: the JSON beside the weights (checked against the file's sha256) or the embedded one."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            embedded = json.loads((handle.metadata() or {}).get("model_card", "null"))
    except Exception as error:  # safetensors raises several types for a truncated or foreign file
        raise CheckpointError(f"checkpoint {path} is damaged or not a safetensors file: {error}") from error
    sidecar = card_path(path)
    sha = sha256_of(path)
    if sidecar.is_file():
        card = json.loads(sidecar.read_text())
        if card.get("sha256") and card["sha256"] != sha:
            raise CheckpointError(f"checkpoint {path} does not match its model card's sha256 (damaged or replaced)")
    elif embedded is not None:
        card = embedded
    else:
        raise CheckpointError(f"checkpoint {path} has no model card (neither {sidecar.name} nor embedded metadata)")
    for key in ("architecture", "classes", "image_size"):
        if key not in card:
            raise CheckpointError(f"model card of {path} lacks {key!r}")
    return {**card, "sha256": sha}


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model named in the card and load its weights; raises CheckpointError with a clear reason."""
    path = Path(path)
    card = read_card(path)
    model = build_model(card["architecture"], num_classes=len(card["classes"]), **card.get("model_kwargs", {}))
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (RuntimeError, KeyError) as error:
        raise CheckpointError(f"weights in {path} do not fit {card['architecture']}: {error}") from error
    return model.to(device).eval(), card
