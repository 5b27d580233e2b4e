"""Fine-tuning a pretrained body: its own (lower) learning rate, early stages frozen, a warm-up with it frozen.

A pretrained EfficientNet body (ml/pretrained.py) already knows edges, textures and blobs; the transformer
blocks and the head on top start from nothing. Training both at one rate either leaves the new blocks
crawling or scrambles the pretrained features in the first steps. So the body learns at a fraction of the
rate (`body_lr_scale`), its first stages (generic low-level filters, and on a CPU the most expensive part
of a backward pass, at the highest resolution) may stay frozen for the whole run (`frozen_stages`), and
the whole body may stay frozen for the first epochs while the new blocks find their feet
(`freeze_body_epochs`). A frozen module also keeps its batch-norm statistics (eval mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ml.models import pretrained_body


def _no_decay(name: str, param: nn.Parameter) -> bool:
    # Standard ViT practice: no decay on norms, biases, position embeddings and tokens.
    return param.ndim <= 1 or "pos_embed" in name or "token" in name


def parameter_groups(model: nn.Module, weight_decay: float, body_lr_scale: float = 1.0) -> list[dict[str, Any]]:
    """AdamW groups: with and without weight decay, each split into the pretrained body (its rate scaled
    by `body_lr_scale`) and the rest. Frozen parameters stay in their groups: AdamW passes over a
    parameter without a gradient, and one unfrozen later trains from there."""
    in_body = _body_parameters(model)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        groups.setdefault((id(param) in in_body, _no_decay(name, param)), []).append(param)
    return [
        {
            "params": params,
            "weight_decay": 0.0 if no_decay else weight_decay,
            "lr_scale": body_lr_scale if is_body else 1.0,
        }
        for (is_body, no_decay), params in sorted(groups.items())
    ]


def _body_parameters(model: nn.Module) -> set[int]:
    """ids of the pretrained body's parameters: a hybrid's backbone, or all of a plain EfficientNet but its
    classifier (which is new)."""
    body = pretrained_body(model)
    if body is None:
        return set()
    if body is model:
        head = {id(p) for p in model.get_submodule("classifier").parameters()}
        return {id(p) for p in model.parameters() if id(p) not in head}
    return {id(p) for p in body.parameters()}


def early_stages(model: nn.Module, stages: int) -> list[nn.Module]:
    """The pretrained body's stem and first `stages` block stages (none for a model without such a body)."""
    if stages <= 0:
        return []
    body = pretrained_body(model)
    if body is None:
        raise ValueError("frozen stages need an EfficientNet body (vit_efficientnet_lite*, tf_efficientnet_lite*)")
    blocks = list(body.get_submodule("blocks").children())
    if stages > len(blocks):
        raise ValueError(f"the body has {len(blocks)} stages; cannot freeze {stages}")
    return [body.get_submodule("conv_stem"), body.get_submodule("bn1"), *blocks[:stages]]


def whole_body(model: nn.Module) -> list[nn.Module]:
    """Everything pretrained: a hybrid's backbone, or a plain EfficientNet's every module but its new classifier."""
    body = pretrained_body(model)
    if body is None:
        raise ValueError(
            "a frozen warm-up needs a pretrained EfficientNet body (vit_efficientnet_lite*, tf_efficientnet_lite*)"
        )
    if body is model:
        head = model.get_submodule("classifier")
        return [module for module in model.children() if module is not head]
    return [body]


def frozen_for_epoch(model: nn.Module, epoch: int, frozen_stages: int, freeze_body_epochs: int) -> list[nn.Module]:
    """Which modules do not learn in this epoch (1-based): the whole body during the warm-up, else the
    early stages. Sets requires_grad accordingly on the whole model."""
    frozen = whole_body(model) if epoch <= freeze_body_epochs else early_stages(model, frozen_stages)
    model.requires_grad_(True)
    for module in frozen:
        module.requires_grad_(False)
    return frozen


def train_mode(model: nn.Module, frozen: Sequence[nn.Module] = ()) -> None:
    """Training mode, except that frozen modules keep their batch-norm statistics and no dropout."""
    model.train()
    for module in frozen:
        module.eval()
