"""Attention rollout heatmaps (Abnar & Zuidema, 2020) and their placement on the input photograph.

Rollout is used rather than Grad-CAM because it comes out of the same forward pass that grades the
image (no backward pass), which keeps grading an examination close to the cost of the bare model.
It shows where the class token gathered information from, not which class that evidence favours.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np
import torch
from PIL import Image
from torch import nn

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
        for block in self.model.blocks:
            # attn_drop sees softmax(q k^T) on the unfused path; it is the identity in eval mode.
            self._handles.append(block.attn.attn_drop.register_forward_hook(self._record))
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
