"""Training loop throughput (sampling, batched augmentation, schedule, clipping) vs a bare timm training step.

Prints figures; asserts nothing. Usage: python bench/bench_train.py [--image-size 256] [--batches 6]
By default the shipped model's architecture and recipe (its card: ml/weights/dr-vit.json), frozen stages
included: the bare step freezes the same ones, so both do the same arithmetic.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import time

import torch
from torch import nn

from ml.augment import to_model_input
from ml.cache import load_images
from ml.checkpoint import read_card
from ml.data import load_dataset
from ml.finetune import frozen_for_epoch, train_mode
from ml.models import build_model, data_config
from ml.predictor import default_checkpoint_path
from ml.runtime import keep_freed_memory
from ml.train import Arrays, Schedule, TrainConfig, make_optimizer, place_model, train_one_epoch

DATA = Path("/work/shared/data/eyepacs-256-enhanced")
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "ml" / "fixtures" / "fundus"


def _arrays(size: int, count: int) -> Arrays:
    samples = load_dataset(DATA if DATA.is_dir() else FIXTURES)[:count]
    images, kept = load_images(samples, size, persist=False)
    return Arrays(torch.from_numpy(images), torch.tensor([s.label for s in kept]), kept)


def _model(config: TrainConfig) -> nn.Module:
    torch.manual_seed(0)
    return build_model(config.architecture, 3, img_size=config.image_size, **config.model_kwargs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ours(config: TrainConfig, data: Arrays, batches: int, device: torch.device) -> float:
    model = place_model(_model(config), device)
    frozen = frozen_for_epoch(model, 2, config.frozen_stages, 0)  # after any frozen-body warm-up
    norm = data_config(model)
    optimizer = make_optimizer(model, config)
    schedule = Schedule(config.lr, 2, 100, None)
    config.samples_per_epoch = batches * config.batch_size
    generator = torch.Generator().manual_seed(0)
    _sync(device)
    started = time.perf_counter()
    train_one_epoch(model, data, optimizer, schedule, 0, config, norm, generator, device, frozen)
    _sync(device)
    return config.samples_per_epoch / (time.perf_counter() - started)


def bare(config: TrainConfig, data: Arrays, batches: int, device: torch.device) -> float:
    """The textbook step on already-normalised tensors: forward, loss, backward, AdamW (with bf16
    autocast on a GPU, as the loop uses).

    The tensors keep the strides of the permuted NHWC source (channels-last in memory), which is
    what a plain `permute` gives anyone who feeds timm this way.
    """
    model = _model(config).to(device)
    train_mode(model, frozen_for_epoch(model, 2, config.frozen_stages, 0))
    norm = data_config(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    criterion = nn.CrossEntropyLoss()
    index = torch.arange(batches * config.batch_size) % len(data.labels)
    xs = [to_model_input(data.images[i], **norm) for i in index.split(config.batch_size)]
    ys = [data.labels[i].to(device) for i in index.split(config.batch_size)]
    _sync(device)
    started = time.perf_counter()
    for x, y in zip(xs, ys, strict=True):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    _sync(device)
    return batches * config.batch_size / (time.perf_counter() - started)


def main() -> None:
    shipped = read_card(default_checkpoint_path())
    kwargs = {k: v for k, v in shipped.get("model_kwargs", {}).items() if k != "img_size"}
    parser = argparse.ArgumentParser()
    # Defaults: the shipped model's architecture and recipe (ml/weights/dr-vit.json).
    parser.add_argument("--arch", default=shipped["architecture"])
    parser.add_argument("--image-size", type=int, default=shipped["image_size"])
    parser.add_argument("--model-kwargs", default=json.dumps(kwargs))
    parser.add_argument("--frozen-stages", type=int, default=shipped.get("training", {}).get("frozen_stages", 0))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as python -m ml and the worker run (bench/bench_allocator.py compares the two)
    config = TrainConfig(data=[], architecture=args.arch, image_size=args.image_size,
                         model_kwargs=json.loads(args.model_kwargs), batch_size=args.batch_size,
                         frozen_stages=args.frozen_stages)  # fmt: skip
    data = _arrays(args.image_size, 256)
    # As ml.train does on a GPU: the photographs live there and batches are gathered there.
    data.images = data.images.to(device)
    bare(config, data, 1, device)  # warm-up
    ours(config, data, 1, device)
    # Alternate and keep the best of each, so load from other processes hits both alike.
    bare_rates, our_rates = [], []
    for _ in range(2):
        bare_rates.append(bare(config, data, args.batches, device))
        our_rates.append(ours(config, data, args.batches, device))
    b, o = max(bare_rates), max(our_rates)
    print(
        f"{args.arch} {args.image_size} px, batch {args.batch_size}, {args.frozen_stages} frozen stages, "
        f"{args.batches} batches per measurement, {device}"
    )
    print(f"bare timm training step: {b:7.2f} images/s")
    print(f"ml.train loop:           {o:7.2f} images/s  ({o / b:.2f}x, target >= 0.9x)")


if __name__ == "__main__":
    main()
