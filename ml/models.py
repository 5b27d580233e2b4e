"""timm Vision Transformers by name, with optional local pretrained weights and a fresh 3-class head."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

log = logging.getLogger(__name__)


class UnknownArchitectureError(ValueError):
    """The architecture name is not a timm model."""


def check_architecture(name: str) -> None:
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:5]
        hint = f" (did you mean one of {close}?)" if close else ""
        raise UnknownArchitectureError(f"unknown architecture {name!r}: not a timm model{hint}")


def build_model(name: str, num_classes: int = 3, pretrained: str | Path | None = None, **kwargs: Any) -> nn.Module:
    """A timm model by name, from scratch or from a local weights file; never downloads anything."""
    check_architecture(name)
    model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            return state[key]
    return state


def load_pretrained(model: nn.Module, path: str | Path) -> None:
    """Load local weights (timm checkpoint or safetensors), dropping the classifier head and any shape misfit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {path}")
    state = _read_state_dict(path)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    head = {
        f"{model.default_cfg.get('classifier', 'head')}.weight",
        f"{model.default_cfg.get('classifier', 'head')}.bias",
    }
    usable = {k: v for k, v in usable.items() if k not in head}
    if not usable:
        raise ValueError(f"no weights in {path} fit this architecture")
    missing, _ = model.load_state_dict(usable, strict=False)
    log.info(
        "loaded %d tensors from %s; %d left at initialisation (the new head among them)",
        len(usable),
        path,
        len(missing),
    )


def disable_fused_attention(model: nn.Module) -> None:
    """Attention rollout needs the attention matrices, which the fused kernel never materialises."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = False


def data_config(model: nn.Module) -> dict[str, Any]:
    """Mean and std come from the model itself (timm's resolve_data_config), never hard-coded twice."""
    config = timm.data.resolve_data_config({}, model=model)
    return {"mean": list(config["mean"]), "std": list(config["std"])}
