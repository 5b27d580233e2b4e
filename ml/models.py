"""timm Vision Transformers by name, with optional local pretrained weights and a fresh 3-class head."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, cast

import timm
import torch
from timm.layers import StdConv2d, StdConv2dSame, resample_abs_pos_embed
from timm.layers.padding import pad_same
from timm.models.efficientnet import EfficientNet
from torch import nn

import ml.architectures  # noqa: F401  (registers our own architectures with timm)
from ml.pretrained import (
    SOURCES,
    PretrainedError,
    is_efficientnet_pytorch,
    is_named_source,
    load_efficientnet_pytorch,
    read_source,
)

log = logging.getLogger(__name__)


class UnknownArchitectureError(ValueError):
    """The architecture name is not a timm model."""


def check_architecture(name: str) -> None:
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:5]
        hint = f" (did you mean one of {close}?)" if close else ""
        raise UnknownArchitectureError(f"unknown architecture {name!r}: not a timm model{hint}")


def build_model(name: str, num_classes: int = 3, pretrained: str | Path | None = None, **kwargs: Any) -> nn.Module:
    """A timm model by name, from scratch, from a local weights file or from a pip-installed pretrained source
    (`efficientnet-lite2`, ml/pretrained.py); never downloads anything."""
    check_architecture(name)
    convolutional = not _takes_image_size(name)
    if convolutional:
        kwargs.pop("img_size", None)  # training records one for every architecture; a CNN takes any size
    model: nn.Module = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    if convolutional and num_classes:
        # timm's TensorFlow-style init scales the classifier by its outputs: with 3 of them, weights of up to
        # +-0.58 on 1280 pretrained features gave logits in the tens and a first epoch lost to them. PyTorch's
        # default scales by the inputs (+-0.028).
        cast(Any, model).reset_classifier(num_classes)  # timm's own method, untyped
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


# timm families of convolutional networks: they take any input size and no `img_size` argument.
_CONVOLUTIONAL_FAMILIES = frozenset({"efficientnet", "resnet", "resnetv2", "convnext", "mobilenetv3", "regnet"})


def _takes_image_size(name: str) -> bool:
    family = timm.models.model_entrypoint(name).__module__.rpartition(".")[2]
    return family not in _CONVOLUTIONAL_FAMILIES


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            return state[key]
    return state


def pretrained_body(model: nn.Module) -> nn.Module | None:
    """The EfficientNet inside a model that EfficientNet-Lite weights load into: the model itself (a plain
    `tf_efficientnet_liteN`) or a hybrid ViT's backbone (`vit_efficientnet_liteN`); None for any other."""
    backbone = getattr(getattr(model, "patch_embed", None), "backbone", None)
    for candidate in (backbone, model):
        if isinstance(candidate, EfficientNet):
            return candidate
    return None


def load_pretrained(model: nn.Module, source: str | Path) -> None:
    """Load pretrained weights: a named pip-installed source (ml/pretrained.py), an EfficientNet-PyTorch
    file (mapped by order onto the EfficientNet body, every shape checked), or a local timm checkpoint or
    safetensors file (matched by name, dropping the classifier head and any shape misfit)."""
    if is_named_source(source):
        _load_into_body(model, read_source(str(source)), str(source))
        return
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights not found: {path} is neither a file nor one of the installed sources {sorted(SOURCES)}"
        )
    state = _read_state_dict(path)
    if is_efficientnet_pytorch(state):
        _load_into_body(model, state, str(path))
        return
    _load_by_name(model, state, path)


def _load_into_body(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    body = pretrained_body(model)
    if body is None:
        raise PretrainedError(f"{source} holds EfficientNet weights; this architecture has no EfficientNet body")
    count = load_efficientnet_pytorch(body, state)
    log.info("loaded %d pretrained tensors from %s into the EfficientNet body", count, source)


def _load_by_name(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    if "pos_embed" in state and "pos_embed" in own and state["pos_embed"].shape != own["pos_embed"].shape:
        fitted = fit_position_embedding(state["pos_embed"], model)
        if fitted is not None:
            state = {**state, "pos_embed": fitted}
    classifier = timm_config(model).get("classifier", "head")
    head = {f"{classifier}.weight", f"{classifier}.bias"}
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and k not in head}
    if not usable:
        raise ValueError(f"no weights in {path} fit this architecture")
    misfit = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape and k not in head)
    if misfit:
        log.warning("not loaded from %s, the shape differs: %s", path, ", ".join(misfit))
    missing, _ = model.load_state_dict(usable, strict=False)
    log.info(
        "loaded %d tensors from %s; %d left at initialisation (the new head among them)",
        len(usable),
        path,
        len(missing),
    )


def fit_position_embedding(posemb: torch.Tensor, model: nn.Module) -> torch.Tensor | None:
    """A pretrained position embedding made to fit the model, or None when it cannot be.

    Public checkpoints are mostly trained at 224 px with a class token; the shipped recipe runs at 256 px
    without one. Dropping the embedding for its shape would leave the model to learn positions from
    nothing, so the grid part is resampled (bicubic, timm's own) to the model's patch grid and the prefix
    tokens (class, registers) are kept only as far as the model has them.
    """
    target = getattr(model, "pos_embed", None)
    if target is None or posemb.ndim != 3 or posemb.shape[-1] != target.shape[-1]:
        return None
    grid = _square_grid(posemb.shape[1])
    if grid is None:
        return None
    prefix, side = grid
    model_prefix = 0 if getattr(model, "no_embed_class", False) else prefix_tokens(model)
    if model_prefix > prefix:
        return None  # the model has prefix tokens the checkpoint never learned positions for
    cells = resample_abs_pos_embed(
        posemb[:, prefix:], new_size=list(token_grid(model)), old_size=[side, side], num_prefix_tokens=0
    )
    fitted = torch.cat([posemb[:, :model_prefix], cells], dim=1)
    return fitted if fitted.shape == target.shape else None


# timm's models are dynamic: the attributes below exist on every ViT (and the configuration on every model)
# but are not typed on nn.Module; these accessors name them once.


def timm_config(model: nn.Module) -> dict[str, Any]:
    """The model's timm configuration (mean, std, classifier name, ...)."""
    return dict(cast(Any, model).default_cfg)


def token_grid(model: nn.Module) -> tuple[int, int]:
    """A ViT's patch-token grid (rows, columns)."""
    rows, columns = cast(Any, model).patch_embed.grid_size
    return int(rows), int(columns)


def prefix_tokens(model: nn.Module) -> int:
    """How many tokens precede a ViT's patch tokens (class, registers)."""
    return int(cast(Any, model).num_prefix_tokens)


def transformer_blocks(model: nn.Module) -> list[nn.Module]:
    """A ViT's transformer blocks, in order."""
    return list(model.get_submodule("blocks").children())


def _square_grid(tokens: int, max_prefix: int = 8) -> tuple[int, int] | None:
    """(prefix tokens, grid side) of a position embedding of `tokens` rows: prefix tokens come first."""
    for prefix in range(max_prefix + 1):
        side = math.isqrt(max(tokens - prefix, 0))
        if side > 0 and side * side == tokens - prefix:
            return prefix, side
    return None


def disable_fused_attention(model: nn.Module) -> None:
    """Attention rollout needs the attention matrices, which the fused kernel never materialises."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            cast(Any, module).fused_attn = False


def data_config(model: nn.Module) -> dict[str, Any]:
    """Mean and std come from the model itself (timm's resolve_data_config), never hard-coded twice."""
    config = timm.data.resolve_data_config({}, model=model)
    return {"mean": list(config["mean"]), "std": list(config["std"])}


class StandardisedConv2d(nn.Module):
    """A weight-standardised convolution (timm's StdConv2d / StdConv2dSame) whose standardisation is done.

    The standardised weights are a function of the weights alone, yet timm recomputes them in every
    forward pass (a batch norm over each kernel); for frozen weights that is the same result every time,
    so it is computed once, exactly as timm computes it.
    """

    def __init__(self, conv: StdConv2d | StdConv2dSame) -> None:
        super().__init__()
        with torch.no_grad():
            flat = conv.weight.reshape(1, conv.out_channels, -1)
            weight = torch.nn.functional.batch_norm(flat, None, None, training=True, momentum=0.0, eps=conv.eps)
            # empty_like keeps the original weight's memory layout (channels-last or not).
            self.register_buffer("weight", torch.empty_like(conv.weight).copy_(weight.reshape_as(conv.weight)))
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.stride, self.dilation, self.groups = list(conv.stride), list(conv.dilation), conv.groups
        self.padding: Any = conv.padding  # an int tuple, or "same"/"valid"
        self.kernel_size = list(conv.kernel_size)
        self.same_pad = bool(getattr(conv, "same_pad", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad:  # TF-style "same" padding, which depends on the input's size
            x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        weight, bias = cast(torch.Tensor, self.weight), cast(torch.Tensor | None, self.bias)  # buffers
        return torch.nn.functional.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def fold_weight_standardisation(model: nn.Module) -> int:
    """Replace every weight-standardised convolution by its standardised result, for inference with frozen
    weights (the Predictor); the same arithmetic, so the same outputs (the shipped model's grades and
    heatmaps were bit-identical). Returns how many were replaced.

    Training must not use it: the standardisation is part of what the gradients flow through.
    """
    targets = [
        (name, module) for name, module in model.named_modules() if isinstance(module, (StdConv2d, StdConv2dSame))
    ]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, StandardisedConv2d(module))
    return len(targets)
