"""Heatmaps: Grad-CAM (what the Predictor shows), attention rollout (for comparison), and their
placement on the input photograph.

Grad-CAM is shown because it is the one of the two that is faithful to the model: deleting the
patches it ranks highest lowers the confidence in the grade far faster than deleting random patches,
while rollout's order does no better than random (`python -m ml faithfulness`, docs/model/). Rollout
is class-agnostic: it shows where information flowed, not which grade that evidence favours.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import numpy as np
import torch
from PIL import Image
from torch import nn

from ml.models import prefix_tokens, pretrained_body, token_grid, transformer_blocks
from ml.preprocess import FieldBox

_PALETTE: list[int] | None = None


class AttentionRecorder:
    """Context manager that records every block's attention matrix during a forward pass.

    The model must have fused attention off (models.disable_fused_attention): the fused kernel
    never materialises the matrix.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.attentions: list[torch.Tensor] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> AttentionRecorder:
        for block in transformer_blocks(self.model):
            # attn_drop sees softmax(q k^T) on the unfused path; it is the identity in eval mode.
            self._handles.append(block.get_submodule("attn.attn_drop").register_forward_hook(self._record))
        return self

    def _record(self, _module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.attentions.append(output.detach())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def rollout(attentions: list[torch.Tensor], num_prefix_tokens: int, grid: tuple[int, int]) -> np.ndarray:
    """Per image, the rolled-out attention from the pooled output to each patch, scaled to [0, 1]."""
    if not attentions:
        raise ValueError("no attention recorded: is fused attention still on?")
    batch, _, tokens, _ = attentions[0].shape
    identity = torch.eye(tokens, device=attentions[0].device).expand(batch, tokens, tokens)
    result = identity
    for attention in attentions:
        # Average heads, add the residual path, renormalise rows (as in the rollout paper).
        mixed = 0.5 * attention.float().mean(dim=1) + 0.5 * identity
        result = (mixed / mixed.sum(dim=-1, keepdim=True)) @ result
    # Class-token models: what the class token gathered. Average-pooled ones: every token feeds the pool equally.
    relevance = result[:, 0, num_prefix_tokens:] if num_prefix_tokens else result.mean(dim=1)
    maps = relevance.reshape(batch, *grid)
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return ((maps - low) / (high - low).clamp(min=1e-8)).cpu().numpy().astype(np.float32)


Target = torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None


# In an EfficientNet body (ml/pretrained.py): the output of its last 1x1 convolution and batch norm, the
# stride-32 map the transformer's tokens are made from.
EFFICIENTNET_CAM_LAYER = "bn2"


def cam_layer(model: nn.Module) -> str:
    """The module whose output Grad-CAM explains, chosen by faithfulness (deletion curves, docs/model/).

    A hybrid with real ResNet stages (ml/architectures.py): the first stage's output. Chosen on the
    validation split: deleting the patches it ranks highest lowered the confidence far faster than random
    deletion, while the last block's tokens did no better than random on that model; its 64x64 map at
    256 px is also eight times finer than the token grid. Otherwise the patch tokens of the last block: where
    the head pools them (the shipped model before) at the block's output, which feeds the pool directly;
    a class-token head never reads those, so there at the block's first norm, where they still reach the
    class token through attention.
    """
    stages = getattr(getattr(getattr(model, "patch_embed", None), "backbone", None), "stages", None)
    if stages is not None and len(stages) > 0:
        return "patch_embed.backbone.stages.0"
    body = pretrained_body(model)
    if body is not None:
        return EFFICIENTNET_CAM_LAYER if body is model else f"patch_embed.backbone.{EFFICIENTNET_CAM_LAYER}"
    last = f"blocks.{len(transformer_blocks(model)) - 1}"
    return last if getattr(model, "global_pool", "token") != "token" else f"{last}.norm1"


def gradcam(
    model: nn.Module, x: torch.Tensor, classes: Target = None, layer: str | None = None
) -> tuple[torch.Tensor, np.ndarray]:
    """Logits and Grad-CAM maps (Selvaraju et al., 2017) of one layer's output, in [0, 1].

    Class-specific, unlike rollout: the places whose features push the explained class's logit up (the
    predicted class unless `classes` says otherwise: the classes, or a function of the logits that gives
    them, as the Predictor's pairing of the two eyes does). `layer` names the module (`cam_layer` by
    default); a convolutional output (N, C, H, W) gives H x W maps, a transformer's tokens (N, T, C) maps
    on the patch grid. Only that layer onwards is tracked by autograd, so with frozen weights the backward
    pass skips everything before it.
    """
    captured: list[torch.Tensor] = []

    def track(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        tokens = output if output.requires_grad else output.detach().requires_grad_()
        captured.append(tokens)
        return tokens

    handle = model.get_submodule(layer or cam_layer(model)).register_forward_hook(track)
    try:
        with torch.enable_grad():
            logits = model(x)
            target = _target(logits, classes)
            (gradient,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), captured[0])
    finally:
        handle.remove()
    features = captured[0]
    if features.ndim == 4:  # channels first: one weight per channel, averaged over the positions
        weights = gradient.mean(dim=(2, 3), keepdim=True)
        maps = torch.relu((features * weights).sum(dim=1)).detach()
    else:
        patches = slice(prefix_tokens(model), None)
        weights = gradient[:, patches].mean(dim=1, keepdim=True)  # one weight per feature channel
        cam = torch.relu((features[:, patches] * weights).sum(dim=-1)).detach()
        maps = cam.reshape(len(x), *token_grid(model))
    high = maps.amax(dim=(1, 2), keepdim=True)
    return logits.detach(), (maps / high.clamp(min=1e-8)).cpu().numpy().astype(np.float32)


def _target(logits: torch.Tensor, classes: Target) -> torch.Tensor:
    if classes is None:
        return logits.argmax(1)
    return classes(logits.detach()) if callable(classes) else classes


def _bilinear_weights(count: int, start: float, side: float, cells: int) -> np.ndarray:
    """(count x cells) weights stretching `cells` grid cells over [start, start + side) of an image axis.

    Bilinear with pixel centres (PIL's and align_corners=False's convention); pixels outside the
    field's square get all-zero rows, so the stretched map is zero there.
    """
    centres = np.arange(count, dtype=np.float64) + 0.5
    position = np.clip((centres - start) / side * cells - 0.5, 0, cells - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, cells - 1)
    fraction = position - low
    weights = np.zeros((count, cells), np.float32)
    rows = np.arange(count)
    np.add.at(weights, (rows, low), 1 - fraction)
    np.add.at(weights, (rows, high), fraction)
    weights[(centres < start) | (centres >= start + side)] = 0
    return weights


def place_on_image(grid_map: np.ndarray, box: FieldBox, size: tuple[int, int]) -> np.ndarray:
    """Stretch a patch-grid map over the field's square and cut it to the input image (H x W, float32).

    Bilinear stretching is separable, so it is two small matrix products: far cheaper than resampling
    an image of the square's size.
    """
    rows = _bilinear_weights(size[1], box.top, box.side, grid_map.shape[0])
    cols = _bilinear_weights(size[0], box.left, box.side, grid_map.shape[1])
    # Convex combinations of values in [0, 1]: no clipping needed.
    return rows @ grid_map.astype(np.float32) @ cols.T


def _palette() -> list[int]:
    global _PALETTE
    if _PALETTE is None:
        from matplotlib import colormaps

        _PALETTE = (colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8).ravel().tolist()
    return _PALETTE


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.4) -> Image.Image:
    """The heatmap (H x W in [0, 1], the photograph's size) in the jet colour map, blended on the photograph."""
    indexed = Image.fromarray((heatmap * 255).astype(np.uint8))
    # A palette image converts to RGB in C: much cheaper than indexing a colour table in numpy.
    indexed.putpalette(_palette())
    return Image.blend(image.convert("RGB"), indexed.convert("RGB"), alpha)
