"""Deletion curve: does removing the most-highlighted patches lower the confidence faster than random patches?"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ml.augment import to_model_input
from ml.evaluate import load_subset
from ml.heatmaps import AttentionRecorder, rollout
from ml.models import disable_fused_attention
from ml.predictor import Predictor

CURVES = ("heatmap", "rollout", "random")
# Mid-grey is "no detail" after the Gaussian-blur subtraction, so a deleted patch carries no signal.
DELETED_VALUE = 128


def delete_patches(arrays: np.ndarray, order: np.ndarray, count: int, grid: tuple[int, int]) -> np.ndarray:
    """Grey out the first `count` patches of each image's patch order."""
    result = arrays.copy()
    patch_h, patch_w = arrays.shape[1] // grid[0], arrays.shape[2] // grid[1]
    for image, patches in enumerate(order[:, :count]):
        for patch in patches:
            row, col = divmod(int(patch), grid[1])
            result[image, row * patch_h : (row + 1) * patch_h, col * patch_w : (col + 1) * patch_w] = DELETED_VALUE
    return result


def rollout_model(predictor: Predictor) -> nn.Module:
    """A copy of the Predictor's model that materialises its attention (the fused kernel hides it)."""
    model = copy.deepcopy(predictor.model)
    disable_fused_attention(model)
    return model


def _rollout_grids(model: nn.Module, predictor: Predictor, arrays: np.ndarray) -> np.ndarray:
    """Attention rollout of the same images, for comparison."""
    x = to_model_input(torch.from_numpy(arrays).to(predictor.device), predictor.norm["mean"], predictor.norm["std"])
    with torch.inference_mode(), AttentionRecorder(model) as recorder:
        model(x)
    prefix_tokens = cast(int, model.num_prefix_tokens)  # timm's; torch types it as Tensor | Module
    return rollout(recorder.attentions, prefix_tokens, token_grid(model))


def token_grid(model: nn.Module) -> tuple[int, int]:
    """The ViT's grid of patch tokens (rows, columns): timm's patch_embed.grid_size."""
    patch_embed: Any = model.patch_embed  # torch types a module's attributes as Tensor | Module
    rows, columns = patch_embed.grid_size
    return int(rows), int(columns)


def on_token_grid(maps: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Maps finer than the token grid (a convolutional layer's Grad-CAM) averaged over each token's cells,
    so every heatmap is judged by deleting the same patches."""
    n, height, width = maps.shape
    if (height, width) == tuple(grid):
        return maps
    if height % grid[0] or width % grid[1]:
        raise ValueError(f"a {height}x{width} map does not divide into the {grid[0]}x{grid[1]} token grid")
    return maps.reshape(n, grid[0], height // grid[0], grid[1], width // grid[1]).mean(axis=(2, 4))


def most_highlighted_first(maps: np.ndarray) -> np.ndarray:
    return np.argsort(-maps.reshape(len(maps), -1), axis=1, kind="stable")


def deletion_curves(
    predictor: Predictor, rollout_copy: nn.Module, arrays: np.ndarray, steps: Sequence[int], seed: int = 0
) -> dict[str, list[float]]:
    """Mean confidence in the originally predicted class as patches are deleted: in the order of the
    heatmap the Predictor shows (Grad-CAM), of attention rollout, and at random."""
    probs, grids = predictor.probabilities(arrays, heatmaps=True)
    predicted = probs.argmax(1)
    grid = token_grid(predictor.model)
    by_heatmap = most_highlighted_first(on_token_grid(cast(np.ndarray, grids), grid))  # heatmaps asked: grids
    by_rollout = most_highlighted_first(_rollout_grids(rollout_copy, predictor, arrays))
    rng = np.random.default_rng(seed)
    at_random = np.stack([rng.permutation(by_heatmap.shape[1]) for _ in range(len(arrays))])
    orders = dict(zip(CURVES, (by_heatmap, by_rollout, at_random), strict=True))
    return {name: confidence_curve(predictor, arrays, order, predicted, steps) for name, order in orders.items()}


def deletion_steps(grid: Sequence[int]) -> list[int]:
    """How many of the token grid's patches are deleted at each point: 0 to half of them, in nine steps."""
    patches = int(np.prod(grid))
    return sorted({round(patches * f) for f in np.linspace(0, 0.5, 9)})


def confidence_curve(
    predictor: Predictor, arrays: np.ndarray, order: np.ndarray, predicted: np.ndarray, steps: Sequence[int]
) -> list[float]:
    """Mean confidence in each image's `predicted` class after deleting the first `steps` patches of `order`."""
    grid = token_grid(predictor.model)
    rows = np.arange(len(arrays))
    curve = []
    for count in steps:
        probs, _ = predictor.probabilities(delete_patches(arrays, order, count, grid))
        curve.append(float(probs[rows, predicted].mean()))
    return curve


def deletion_figure(
    data: Sequence[str | Path],
    out: str | Path,
    checkpoint: str | Path | None = None,
    max_images: int = 200,
    split: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Plot the deletion curves (PNG) and write their numbers and areas beside it (JSON)."""
    import matplotlib.pyplot as plt

    from ml.plots import figure_path  # (importing plots selects the headless backend)

    predictor = Predictor(checkpoint)
    arrays, _ = load_subset(predictor, data, max_images, split, seed)
    if not len(arrays):
        raise ValueError(f"no readable images in {list(map(str, data))}")
    patches = int(np.prod(token_grid(predictor.model)))
    steps = deletion_steps(token_grid(predictor.model))
    curves: dict[str, list[float]] = {name: [] for name in CURVES}
    rollout_copy = rollout_model(predictor)
    for start in range(0, len(arrays), 50):
        part = deletion_curves(predictor, rollout_copy, arrays[start : start + 50], steps, seed)
        weight = min(50, len(arrays) - start) / len(arrays)
        for name in curves:
            curves[name] = [a + weight * b for a, b in zip(curves[name] or [0.0] * len(steps), part[name], strict=True)]
    fractions = [s / patches for s in steps]
    areas = {name: float(np.trapezoid(values, fractions) / fractions[-1]) for name, values in curves.items()}
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        label = {"heatmap": "Grad-CAM (shown)", "rollout": "attention rollout"}.get(name, name)
        ax.plot(fractions, values, "o-", label=f"{label} order (mean conf. {areas[name]:.3f})")
    ax.set(xlabel="fraction of patches deleted (grey)", ylabel="confidence in the original prediction",
           title=f"Deletion curves ({len(arrays)} images)")  # fmt: skip
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = figure_path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    result = {"images": len(arrays), "fractions": fractions, "curves": curves, "mean_confidence": areas}
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    return result
