"""`examples`: a figure of photographs beside their heatmap overlays, a few per true class."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.data import Sample
from ml.evaluate import select_samples
from ml.predictor import Predictor
from ml.preprocess import read_photograph


def pick_examples(samples: Sequence[Sample], per_class: int, classes: int) -> list[Sample]:
    """The first `per_class` samples of each class, preferring natural-colour photographs (what a clinic sends)."""
    ordered = sorted(samples, key=lambda s: ("enhanced" in s.source, str(s.path)))
    picked: list[Sample] = []
    for label in range(classes):
        picked += [s for s in ordered if s.label == label][:per_class]
    return picked


def examples_figure(
    data: Sequence[str | Path],
    out: str | Path,
    checkpoint: str | Path | None = None,
    per_class: int = 2,
    split: str | None = None,
) -> dict[str, Any]:
    """Write a grid (photograph | overlay, one row per image) with the true and predicted grades."""
    import matplotlib.pyplot as plt

    from ml.plots import figure_path  # (importing plots selects the headless backend)

    predictor = Predictor(checkpoint)
    chosen = pick_examples(select_samples(data, split), per_class, len(predictor.labels))
    if not chosen:
        raise ValueError(f"no images in {list(map(str, data))}")
    read = [(sample, read_photograph(sample.path)) for sample in chosen]
    chosen, images = [s for s, image in read if image is not None], [i for _, i in read if i is not None]
    if not chosen:
        raise ValueError(f"no readable images in {list(map(str, data))}")
    results = predictor.predict(images)
    fig, axes = plt.subplots(len(chosen), 2, figsize=(6, 2.6 * len(chosen)), squeeze=False)
    for row, (sample, image, result) in enumerate(zip(chosen, images, results, strict=True)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(f"true: {predictor.labels[sample.label]}", fontsize=9)
        axes[row, 1].imshow(result.overlay)
        confidence = result.confidences[result.label]
        axes[row, 1].set_title(f"predicted: {result.label} ({confidence:.0%}), Grad-CAM", fontsize=9)
        for ax in axes[row]:
            ax.axis("off")
    fig.tight_layout()
    out = figure_path(out)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return {"figure": str(out), "images": len(chosen), "model_version": predictor.version}
