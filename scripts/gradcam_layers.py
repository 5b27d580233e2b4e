"""Which layer should Grad-CAM explain? Deletion curves of several layers' maps, on one split.

For each candidate the Predictor's model is explained at that layer, the map is averaged onto the 8x8
token grid, the photographs' patches are greyed out in the map's order (and at random), and the mean
confidence in the originally predicted grade is printed over 0-50% deleted (lower: more faithful). The
shipped choice was made this way on the validation split (docs/model/MODEL_CARD.md, Heatmaps).

    python scripts/gradcam_layers.py --data DIR [DIR ...] [--split val] [--max-images 50] [--checkpoint C]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.augment import to_model_input
from ml.evaluate import load_subset
from ml.faithfulness import confidence_curve, deletion_steps, most_highlighted_first, on_token_grid
from ml.heatmaps import gradcam
from ml.predictor import Predictor


def candidate_layers(model: torch.nn.Module) -> list[str]:
    layers = ["patch_embed", "blocks.2", f"blocks.{len(model.blocks) - 1}"]
    backbone = getattr(model.patch_embed, "backbone", None)
    stages = getattr(backbone, "stages", [])
    return [f"patch_embed.backbone.stages.{i}" for i in range(len(stages))] + layers


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--max-images", type=int, default=50)
    parser.add_argument("--checkpoint")
    args = parser.parse_args(argv)
    predictor = Predictor(args.checkpoint)
    arrays, _ = load_subset(predictor, args.data, args.max_images, args.split, 0)
    grid = tuple(predictor.model.patch_embed.grid_size)
    x = to_model_input(torch.from_numpy(arrays), predictor.norm["mean"], predictor.norm["std"])
    orders = {
        layer: most_highlighted_first(on_token_grid(gradcam(predictor.model, x, layer=layer)[1], grid))
        for layer in candidate_layers(predictor.model)
    }
    rng = np.random.default_rng(0)
    orders["random order"] = np.stack([rng.permutation(grid[0] * grid[1]) for _ in range(len(arrays))])
    print(f"{len(arrays)} photographs of the {args.split} split; mean confidence over 0-50% deleted, and at 50%")
    predicted = predictor.probabilities(arrays)[0].argmax(1)
    steps = deletion_steps(grid)
    for name, order in orders.items():
        values = np.array(confidence_curve(predictor, arrays, order, predicted, steps))
        print(f"  {name:32s} {values.mean():.3f}  {values[-1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
