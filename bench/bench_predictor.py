"""Grading one examination (2 photographs + heatmaps) through Predictor vs the bare timm forward pass.

Prints figures; asserts nothing. Usage: python bench/bench_predictor.py [--checkpoint PATH] [--repeats N]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import copy

import torch
from PIL import Image

from bench.timing import median_seconds
from ml.augment import to_model_input
from ml.checkpoint import load_checkpoint
from ml.data import load_dataset
from ml.models import fold_weight_standardisation
from ml.predictor import Predictor
from ml.runtime import keep_freed_memory

DATA = Path("/work/shared/data/eyepacs-1024")
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "ml" / "fixtures" / "fundus"


def _examination() -> list[Image.Image]:
    """A right and a left eye at full size (natural 1024 px photographs when the data is here)."""
    samples = load_dataset(DATA if DATA.is_dir() else FIXTURES)
    return [Image.open(s.path).convert("RGB") for s in samples[:2]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", help="defaults to the shipped model")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as python -m ml and the worker run (bench/bench_allocator.py compares the two)
    predictor = Predictor(args.checkpoint, device=args.device)
    images = _examination()
    # The bare baseline: the same architecture and weights straight from timm (fused attention on),
    # on the already-prepared batch of the same two photographs.
    # (The Predictor's own model has the hybrid's weight standardisation folded in: not timm's model.)
    bare, _ = load_checkpoint(predictor.checkpoint_path, predictor.device)
    folded = copy.deepcopy(bare)
    fold_weight_standardisation(folded)
    arrays, _ = predictor.prepare(images)
    x = to_model_input(torch.from_numpy(arrays).to(predictor.device), **predictor.norm)

    def bare_forward() -> None:
        with torch.inference_mode():
            bare(x).cpu()  # the logits on the host, as the Predictor has them: this waits for a GPU too

    def folded_forward() -> None:
        with torch.inference_mode():
            folded(x).cpu()

    def through_predictor() -> None:
        predictor.predict(images, heatmaps=True, eyes=["right", "left"])  # as the worker grades an examination

    def predictor_no_heatmaps() -> None:
        predictor.predict(images, heatmaps=False, eyes=["right", "left"])

    # Interleave the measurements so load from other processes hits both alike.
    bare_s, folded_s, full_s, plain_s = [], [], [], []
    for _ in range(3):
        bare_s.append(median_seconds(bare_forward, args.repeats))
        folded_s.append(median_seconds(folded_forward, args.repeats))
        full_s.append(median_seconds(through_predictor, args.repeats))
        plain_s.append(median_seconds(predictor_no_heatmaps, args.repeats))
    bare_t, folded_t, full_t, plain_t = min(bare_s), min(folded_s), min(full_s), min(plain_s)
    sizes = ", ".join(f"{im.width}x{im.height}" for im in images)
    print(f"model {predictor.version} ({predictor.card['architecture']}, {predictor.image_size} px), images {sizes}")
    print(f"device {predictor.device}, {args.threads} CPU threads")
    print(f"bare timm forward, batch 2:            {bare_t * 1000:8.1f} ms")
    print(f"the same, standardisation folded:      {folded_t * 1000:8.1f} ms  ({folded_t / bare_t:.2f}x)")
    print(
        f"Predictor.predict, heatmaps=False:     {plain_t * 1000:8.1f} ms  ({plain_t / bare_t:.2f}x, target <= 1.15x)"
    )
    print(f"Predictor.predict, heatmaps=True:      {full_t * 1000:8.1f} ms  ({full_t / bare_t:.2f}x, target <= 2.1x)")


if __name__ == "__main__":
    main()
