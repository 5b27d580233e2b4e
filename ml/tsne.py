"""`tsne`: the model's pooled embeddings of a dataset, in two dimensions, coloured by class."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.manifold import TSNE

from ml.augment import to_model_input
from ml.evaluate import load_subset
from ml.plots import figure_path, plot_embedding
from ml.predictor import Predictor


@torch.inference_mode()
def embed(predictor: Predictor, arrays: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Pre-logit features (what the classifier head sees)."""
    # timm's forward_features and forward_head: torch types a module's attributes as Tensor | Module.
    model: Any = predictor.model
    chunks = []
    for start in range(0, len(arrays), batch_size):
        x = to_model_input(torch.from_numpy(arrays[start : start + batch_size]), **predictor.norm)
        chunks.append(model.forward_head(model.forward_features(x.to(predictor.device)), pre_logits=True).float().cpu())
    return torch.cat(chunks).numpy()


def tsne_figure(
    data: Sequence[str | Path],
    out: str | Path,
    checkpoint: str | Path | None = None,
    max_images: int = 1500,
    split: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the t-SNE PNG; a random subset of at most max_images keeps it quick on a CPU."""
    predictor = Predictor(checkpoint)
    arrays, kept = load_subset(predictor, data, max_images, split, seed)
    if len(kept) < 4:
        # t-SNE's perplexity must stay below the number of points: fewer than four cannot be laid out.
        raise ValueError(f"t-SNE needs at least 4 readable images, got {len(kept)}")
    features = embed(predictor, arrays)
    perplexity = float(min(30, max(2, (len(kept) - 1) / 3)))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    labels = np.array([s.label for s in kept])
    out = figure_path(out)
    title = f"t-SNE of {predictor.version} embeddings ({len(kept)} images{', ' + split + ' split' if split else ''})"
    plot_embedding(points, labels, predictor.labels, out, title)
    return {"figure": str(out), "images": len(kept)}
