"""Training: balanced sampling, batched fundus augmentation, AdamW + warm-up + cosine, early stopping."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timm.data import Mixup
from torch import nn
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ml.augment import augment, to_model_input
from ml.cache import load_images
from ml.calibration import expected_calibration_error, fit_temperature, softmax
from ml.checkpoint import load_checkpoint, save_checkpoint
from ml.data import LABELS, Sample, load_datasets, split_by_patient, summarise
from ml.finetune import frozen_for_epoch, parameter_groups, train_mode
from ml.metrics import classification_metrics
from ml.models import build_model, data_config
from ml.pairing import fit_on, with_pairing
from ml.plots import plot_history
from ml.preprocess import PREPROCESS_VERSION

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """What training and pretraining share: the data, the model, the optimiser and the budget."""

    data: list[str]
    out: str = "runs/train"
    architecture: str = "vit_tiny_r_conv"  # the shipped model's (ml/architectures.py)
    image_size: int = 256
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    samples_per_epoch: int | None = None  # None: the training split's size
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    grad_clip: float = 1.0
    time_budget_min: float | None = None  # cosine decays on whichever ends first: epochs or this budget
    ben: bool = True
    seed: int = 0
    threads: int | None = None
    constant_lr: bool = False  # after warm-up, hold the rate instead of the cosine (the usual one for averaging)


@dataclass
class TrainConfig(RunConfig):
    pretrained: str | None = None
    init: str | None = None  # one of our checkpoints to continue from, head included
    label_smoothing: float = 0.1
    balance_power: float = 1.0  # sampling weight = class_count ** -power; 1 = fully balanced
    ordinal_weight: float = 0.0  # weight of the expected quadratic cost beside cross-entropy (OrdinalCostLoss)
    patience: int = 8
    monitor: str = "balanced_accuracy"
    version: str = "dev"
    # Stochastic weight averaging: from this epoch on, the weights at each epoch's end join an equal-weight
    # average (0: the starting weights too), which is then what is validated, kept and shipped.
    average_from: int | None = None
    # Mixing two photographs of a batch (timm's Mixup): the Beta distributions' alphas of mixup (blending)
    # and CutMix (pasting a rectangle), 0 for off; with both, each batch takes one of them at even odds.
    mixup: float = 0.0
    cutmix: float = 0.0
    # Fine-tuning a pretrained body (ml/finetune.py): its learning rate as a fraction of the new blocks',
    # its stem and first stages frozen for the whole run, and the whole body frozen for the first epochs.
    body_lr_scale: float = 1.0
    frozen_stages: int = 0
    freeze_body_epochs: int = 0

    def __post_init__(self) -> None:
        # Checked here, not after minutes of loading photographs.
        if self.average_from is not None and self.average_from < 0:
            raise ValueError(f"average_from must be 0 or later, not {self.average_from}")
        if self.mixup < 0 or self.cutmix < 0:
            raise ValueError(f"mixup and cutmix are Beta alphas, 0 or more, not {self.mixup} and {self.cutmix}")


@dataclass
class Arrays:
    images: torch.Tensor  # uint8 N x H x W x 3
    labels: torch.Tensor
    samples: list[Sample]


def _arrays(samples: Sequence[Sample], size: int, ben: bool) -> Arrays:
    images, kept = load_images(samples, size, ben)
    return Arrays(torch.from_numpy(images), torch.tensor([s.label for s in kept]), kept)


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    """AdamW with no decay on norms, biases, position embeddings and tokens (standard ViT practice), and a
    pretrained body's rate scaled by the run's body_lr_scale (ml/finetune.py)."""
    scale = getattr(config, "body_lr_scale", 1.0)
    return torch.optim.AdamW(parameter_groups(model, config.weight_decay, scale), lr=config.lr)


class Schedule:
    """Linear warm-up then cosine to zero (or, `constant`, the peak rate held); progress, which also ends the
    run, is the further of step count and wall-clock budget."""

    def __init__(
        self, base_lr: float, warmup_steps: int, total_steps: int, budget_s: float | None, constant: bool = False
    ) -> None:
        self.base_lr, self.warmup, self.total, self.budget = base_lr, warmup_steps, total_steps, budget_s
        self.constant = constant
        self.start = time.monotonic()

    def progress(self, step: int) -> float:
        by_steps = step / max(self.total, 1)
        by_time = (time.monotonic() - self.start) / self.budget if self.budget else 0.0
        return min(1.0, max(by_steps, by_time))

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        if self.constant:
            return self.base_lr
        return self.base_lr * 0.5 * (1 + math.cos(math.pi * self.progress(step)))


def balanced_indices(labels: torch.Tensor, count: int, power: float, generator: torch.Generator) -> torch.Tensor:
    """Draw `count` indices with replacement so rare classes are seen about as often as common ones."""
    class_counts = torch.bincount(labels, minlength=len(LABELS)).clamp(min=1).float()
    weights = class_counts[labels] ** -power
    return torch.multinomial(weights, count, replacement=True, generator=generator)


class OrdinalCostLoss(nn.Module):
    """Cross-entropy plus `weight` times the expected quadratic cost of the predicted distribution.

    Cross-entropy charges a No DR photograph called Proliferative as much as one called Mild; quadratic
    weighted kappa, a target of the model, charges it four times as much. The added term,
    sum_k p_k (k - y)^2 / (K - 1)^2, is kappa's own weighting in expectation, so the model is taught to
    keep its doubt between neighbouring grades. With weight 0 this is plain cross-entropy.

    Targets are class indices, or (mixed photographs) a distribution over the classes per row, whose
    label smoothing is already in it; both terms are then the target-weighted means of the per-class ones.
    """

    def __init__(self, label_smoothing: float = 0.0, weight: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing, self.weight = label_smoothing, weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        soft = targets.is_floating_point()
        smoothing = 0.0 if soft else self.label_smoothing
        loss = nn.functional.cross_entropy(logits, targets, label_smoothing=smoothing)
        if self.weight == 0:
            return loss
        classes = logits.shape[1]
        grades = torch.arange(classes, device=logits.device, dtype=logits.dtype)
        distance = (grades[:, None] - grades[None, :]) ** 2 / (classes - 1) ** 2  # true grade x predicted grade
        truth = targets.to(logits.dtype) if soft else nn.functional.one_hot(targets, classes).to(logits.dtype)
        cost = (truth[:, :, None] * distance).sum(dim=1)  # not a matmul: autocast would make it bf16
        return loss + self.weight * (logits.softmax(dim=1) * cost).sum(dim=1).mean()


def make_mixing(config: TrainConfig) -> Mixup | None:
    """timm's Mixup for the run's alphas (one mix per batch, label smoothing folded into the targets)."""
    if not (config.mixup or config.cutmix):
        return None
    return Mixup(
        mixup_alpha=config.mixup,
        cutmix_alpha=config.cutmix,
        label_smoothing=config.label_smoothing,
        num_classes=len(LABELS),
    )


def mixed(mixing: Mixup | None, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch mixed with itself reversed, and its soft targets; an odd-sized batch (an epoch's last)
    cannot be paired by timm and goes unmixed, with plain labels."""
    if mixing is None or len(labels) % 2:
        return x, labels
    return mixing(x, labels)


def training_batches(
    data: Arrays,
    count: int,
    config: TrainConfig,
    norm: dict[str, list[float]],
    generator: torch.Generator,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`count` balanced draws of the training split as training sees them: augmented on the device (with the
    run's generator on the CPU), mixed where the run mixes, with their targets."""
    order = balanced_indices(data.labels, count, config.balance_power, generator)
    own_generator = generator if device.type == "cpu" else None
    mixing = make_mixing(config)
    for batch in tqdm(order.split(config.batch_size), desc="train", leave=False, mininterval=10):
        images = data.images[batch].to(device, non_blocking=True)
        x = augment(images, norm["mean"], norm["std"], own_generator)
        yield mixed(mixing, x, data.labels[batch].to(device))


def train_one_epoch(
    model: nn.Module,
    data: Arrays,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    step: int,
    config: TrainConfig,
    norm: dict[str, list[float]],
    generator: torch.Generator,
    device: torch.device,
    frozen: Sequence[nn.Module] = (),
) -> tuple[dict[str, float], int]:
    """One pass over a balanced draw of the training split; returns mean loss/accuracy and the new step.
    `frozen` modules keep their batch-norm statistics (ml/finetune.py)."""
    train_mode(model, frozen)
    count = config.samples_per_epoch or len(data.labels)
    batches = training_batches(data, count, config, norm, generator, device)
    criterion = OrdinalCostLoss(config.label_smoothing, config.ordinal_weight)
    stats, step = run_steps(batches, model, optimizer, criterion, schedule, step, config.grad_clip, device)
    return {"train_loss": stats["loss"], "train_accuracy": stats["accuracy"], "skipped_steps": stats["skipped"]}, step


def run_steps(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    schedule: Schedule,
    step: int,
    grad_clip: float,
    device: torch.device,
) -> tuple[dict[str, float], int]:
    """Optimiser steps over (input, target) batches: mean loss and accuracy of the applied steps, how many
    were skipped as non-finite, and the new step count. Training and pretraining share it."""
    # Running sums stay on the device; the one scalar read a step is training_step's finite check.
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = skipped = 0
    for x, targets in batches:
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr(step) * group.get("lr_scale", 1.0)
        logits, loss, applied = training_step(model, x, targets, optimizer, criterion, grad_clip)
        step += 1
        if not applied:
            skipped += 1
            continue
        total_loss += loss * len(targets)
        truth = targets.argmax(1) if targets.is_floating_point() else targets  # a mixed photograph's larger part
        correct += (logits.argmax(1) == truth).sum()
        seen += len(targets)
    if seen == 0:
        raise ValueError(
            f"training diverged: every step had a non-finite loss (try a lower --lr than {schedule.base_lr})"
        )
    return {"loss": float(total_loss) / seen, "accuracy": int(correct) / seen, "skipped": skipped}, step


def training_step(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    grad_clip: float,
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """One optimiser step; skipped (weights untouched) when the loss or the gradients are not finite.

    A single overflowing bf16 batch otherwise turns every weight into NaN through the optimiser (seen
    once in a GPU run at learning rate 1e-3), and the run is lost.
    """
    device_type = x.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=device_type == "cuda"):
        logits = model(x)
        loss = criterion(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    # One scalar read a step; the step would wait for the backward pass anyway.
    applied = bool(torch.isfinite(norm) & torch.isfinite(loss))
    if applied:
        optimizer.step()
    else:
        optimizer.zero_grad(set_to_none=True)
    return logits.detach(), loss.detach(), applied


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: torch.Tensor, norm: dict[str, list[float]], device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """Logits for a uint8 NHWC array of preprocessed images, without augmentation."""
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        x = to_model_input(images[start : start + batch_size].to(device), norm["mean"], norm["std"])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            outputs.append(model(x).float().cpu())
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, len(LABELS)), np.float32)


def validate(model: nn.Module, data: Arrays, norm: dict[str, list[float]], device: torch.device) -> dict[str, float]:
    logits = predict_logits(model, data.images, norm, device)
    labels = data.labels.numpy()
    loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), data.labels))
    metrics = classification_metrics(labels, logits.argmax(1), softmax(logits))
    balanced, kappa = metrics["balanced_accuracy"], metrics["quadratic_weighted_kappa"] or 0.0
    return {
        "val_loss": loss,
        "val_accuracy": metrics["accuracy"],
        "val_balanced_accuracy": balanced,
        "val_quadratic_weighted_kappa": kappa,
        # Both targets at once: less swayed by one epoch's luck on the rare class than either alone.
        "val_balanced_accuracy_kappa": (balanced + kappa) / 2,
    }


def _card(
    config: TrainConfig, norm: dict[str, list[float]], splits: dict[str, Arrays], started_from: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "version": config.version,
        "architecture": config.architecture,
        "model_kwargs": {"img_size": config.image_size, **config.model_kwargs},
        "classes": list(LABELS),
        "image_size": config.image_size,
        "preprocessing": {
            "name": PREPROCESS_VERSION,
            "steps": "crop black border, pad to square, resize, "
            + ("mask-normalised Gaussian-blur subtraction at fixed contrast (Ben Graham)" if config.ben else "none"),
            "ben_graham": config.ben,
        },
        "normalisation": norm,
        "temperature": 1.0,
        "data": {name: summarise(arrays.samples) for name, arrays in splits.items()},
        "training": {k: v for k, v in asdict(config).items() if k not in ("data",)}
        | {"datasets": config.data, "photographs": _photographs(splits)}
        | ({"continued_from": lineage(started_from)} if started_from else {}),
    }


def _photographs(splits: dict[str, Arrays]) -> str:
    """What training saw: an exported (already preprocessed, compressed) copy or the originals."""
    samples = [s for arrays in splits.values() for s in arrays.samples]
    return "exported copy" if any(s.prepared for s in samples) else "original"


def lineage(card: dict[str, Any]) -> dict[str, Any]:
    """Which checkpoint a continued run started from (its card), and how that one was trained.

    The starting file is usually the shipped one, which the continued run then replaces: its version,
    hash and recipe (its own lineage included) are kept in the new card, or the run could not be retraced.
    """
    kept = ("version", "sha256", "best_epoch", "training")
    return {k: card[k] for k in kept if k in card}


def _write_history(out: Path, history: list[dict[str, float]]) -> None:
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    plot_history(history, out / "training_curves.png")


def setup_run(config: RunConfig) -> tuple[torch.device, torch.Generator]:
    """Threads, seeds and the device of a run; the generator draws its samples and augmentations."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)  # timm's Mixup draws its mixing weights and rectangles from numpy
    return training_device(), torch.Generator().manual_seed(config.seed)


def make_schedule(config: RunConfig, train_size: int) -> Schedule:
    steps_per_epoch = math.ceil((config.samples_per_epoch or train_size) / config.batch_size)
    budget = config.time_budget_min * 60 if config.time_budget_min else None
    warmup, total = int(config.warmup_epochs * steps_per_epoch), config.epochs * steps_per_epoch
    return Schedule(config.lr, warmup, total, budget, config.constant_lr)


def photographs_to(device: torch.device, *parts: Arrays) -> None:
    """On a GPU, keep the photographs there: a few GB of uint8 fit any training GPU, and batches are then
    gathered there."""
    if device.type == "cuda":
        for arrays in parts:
            arrays.images = arrays.images.to(device)


def training_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_splits(data: Sequence[str], image_size: int, ben: bool, seed: int) -> dict[str, Arrays]:
    """The patient-level train/val/test split of the folders, as preprocessed uint8 arrays."""
    samples = load_datasets(data)
    splits = split_by_patient(samples, seed=seed)
    # One cache for every sample: the split is an index, not a copy on disk.
    everything = _arrays(samples, image_size, ben)
    position = {id(s): i for i, s in enumerate(everything.samples)}
    result = {}
    for name, part in splits.items():
        index = torch.tensor([position[id(s)] for s in part if id(s) in position], dtype=torch.long)
        result[name] = Arrays(
            everything.images[index], everything.labels[index], [everything.samples[i] for i in index]
        )
    return result


def place_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move the model for training; channels-last on the CPU, where the convolutional stem then runs
    about 10-15% faster (measured on this 2-core machine; bench/bench_train.py uses this too)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cpu" else model


def _initial_model(config: TrainConfig) -> tuple[nn.Module, dict[str, Any] | None]:
    """A fresh (or pretrained-backbone) model, or one of our checkpoints to train further, with its card."""
    if config.init is None:
        model = build_model(
            config.architecture, len(LABELS), config.pretrained, img_size=config.image_size, **config.model_kwargs
        )
        return model, None
    model, card = load_checkpoint(config.init)
    given = (config.architecture, config.image_size, {"img_size": config.image_size, **config.model_kwargs})
    found = (card["architecture"], card["image_size"], card.get("model_kwargs", {}))
    if given != found:
        raise ValueError(f"--init {config.init} is {found}, not the requested {given}")
    return model, card


def train(config: TrainConfig) -> dict[str, Any]:
    """Train, keep the best checkpoint by the monitored validation metric, calibrate and test it."""
    device, generator = setup_run(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits(config.data, config.image_size, config.ben, config.seed)
    log.info("split sizes: %s", {k: len(v.labels) for k, v in splits.items()})
    if min(len(v.labels) for v in splits.values()) == 0:
        raise ValueError(f"a split is empty ({ {k: len(v.labels) for k, v in splits.items()} }): need more patients")
    photographs_to(device, *splits.values())
    model, started_from = _initial_model(config)
    model = place_model(model, device)
    norm = data_config(model)
    optimizer = make_optimizer(model, config)
    schedule = make_schedule(config, len(splits["train"].labels))
    card = _card(config, norm, splits, started_from)
    best_path = out / "best.safetensors"
    history: list[dict[str, float]] = []
    best, stale, step = -math.inf, 0, 0
    average = start_average(model, config)
    for epoch in range(1, config.epochs + 1):
        started = time.monotonic()
        frozen = frozen_for_epoch(model, epoch, config.frozen_stages, config.freeze_body_epochs)
        train_stats, step = train_one_epoch(
            model, splits["train"], optimizer, schedule, step, config, norm, generator, device, frozen
        )
        row = {"epoch": epoch, **train_stats, **validate(model, splits["val"], norm, device)}
        kept, score = scored(model, average, epoch, row, config, splits["val"], norm, device)
        row |= {"lr": schedule.lr(step), "seconds": time.monotonic() - started}
        history.append(row)
        _write_history(out, history)
        log.info("epoch %d %s", epoch, json.dumps({k: round(v, 4) for k, v in row.items()}))
        if score is None:
            pass  # before the average starts nothing is kept, and patience does not run
        elif score > best:
            best, stale = score, 0
            save_checkpoint(kept, best_path, card | {"best_epoch": epoch}, half=False)
        else:
            stale += 1
        stop = stop_reason(row, stale, schedule.progress(step), config, len(splits["train"].labels))
        if stop:
            log.log(
                logging.ERROR if stop.startswith("unstable") else logging.INFO,
                "stopping after epoch %d: %s",
                epoch,
                stop,
            )
            break
    else:
        stop = f"all {config.epochs} epochs"
    if not best_path.exists():
        raise ValueError(f"the run stopped ({stop}) before weight averaging began at epoch {config.average_from}")
    return finalise(best_path, splits, out, config, stop)


def start_average(model: nn.Module, config: TrainConfig) -> AveragedModel | None:
    """The running weight average of a run with `average_from`, holding the starting weights if that is 0."""
    if config.average_from is None:
        return None
    # A batch-normalised model (a pretrained EfficientNet body) averages its running statistics along with
    # its weights, as timm's weight EMA does: the live model's statistics would not fit the averaged weights.
    batch_norm = any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())
    average = AveragedModel(model, use_buffers=batch_norm)
    if config.average_from == 0:
        average.update_parameters(model)
    return average


def scored(
    model: nn.Module,
    average: AveragedModel | None,
    epoch: int,
    row: dict[str, float],
    config: TrainConfig,
    val: Arrays,
    norm: dict[str, list[float]],
    device: torch.device,
) -> tuple[nn.Module, float | None]:
    """The model this epoch would keep and its monitored validation score (None: not a candidate yet).

    With weight averaging the candidate is the average, validated after this epoch's weights join it
    (its figures go into the row as `swa_val_*`); the live model is only reported.
    """
    if average is None:
        return model, row[f"val_{config.monitor}"]
    if epoch < (config.average_from or 0):
        return model, None
    average.update_parameters(model)
    row |= {f"swa_{k}": v for k, v in validate(average.module, val, norm, device).items()}
    row["swa_members"] = float(average.n_averaged)
    return average.module, row[f"swa_val_{config.monitor}"]


# An epoch with more skipped (non-finite) steps than this share is not training any more.
UNSTABLE_FRACTION = 0.5


def stop_reason(row: dict[str, float], stale: int, progress: float, config: TrainConfig, train_size: int) -> str | None:
    """Why training stops after this epoch, or None to go on.

    A few skipped steps are the finite-loss guard doing its job; most of an epoch's steps skipped means the
    weights now give non-finite gradients for almost any batch (seen on the GPU with a width-384 model at
    lr 1e-3: 150 of 157 steps an epoch for 25 epochs), and going on only burns the budget. The run stops
    and the best checkpoint so far is finalised, with the reason in its card.
    """
    steps = math.ceil((config.samples_per_epoch or train_size) / config.batch_size)
    skipped = int(row.get("skipped_steps", 0))
    if skipped > UNSTABLE_FRACTION * steps:
        return f"unstable: {skipped} of {steps} steps non-finite (try a lower --lr than {config.lr})"
    if skipped:
        log.warning("epoch %d: %d of %d steps skipped as non-finite", row.get("epoch", 0), skipped, steps)
    if stale >= config.patience:
        return f"no better validation {config.monitor} for {stale} epochs"
    if progress >= 1.0:
        return "the schedule (epochs or time budget) is complete"
    return None


def finalise(
    best_path: Path, splits: dict[str, Arrays], out: Path, config: TrainConfig, stopped: str = ""
) -> dict[str, Any]:
    """Fit the temperature on validation, measure the test split, write the fp16 model with its full card."""
    device = training_device()
    model, card = load_checkpoint(best_path, device)
    norm = card["normalisation"]
    val_logits = predict_logits(model, splits["val"].images, norm, device)
    val_labels = splits["val"].labels.numpy()
    temperature = fit_temperature(val_logits, val_labels)
    test_logits = predict_logits(model, splits["test"].images, norm, device)
    test_labels = splits["test"].labels.numpy()
    probs = softmax(test_logits, temperature)
    calibration = {
        "temperature": temperature,
        "val_ece_before": expected_calibration_error(softmax(val_logits), val_labels),
        "val_ece_after": expected_calibration_error(softmax(val_logits, temperature), val_labels),
        "test_ece_before": expected_calibration_error(softmax(test_logits), test_labels),
        "test_ece_after": expected_calibration_error(probs, test_labels),
    }
    card = {k: v for k, v in card.items() if k not in ("sha256", "weights_file", "dtype")}
    card |= {"temperature": temperature, "calibration": calibration}
    # Both eyes together (ml/pairing.py), fitted on validation like the temperature, measured on test.
    pairing = fit_on(softmax(val_logits, temperature), val_labels, splits["val"].samples)
    card = with_pairing(card, pairing, (probs, test_labels, splits["test"].samples))
    test_metrics = card["test_metrics"]  # each eye alone; with both eyes together under card["pairing"]
    card["training"] = card.get("training", {}) | {"stopped": stopped}
    final = save_checkpoint(model, out / "model.safetensors", card, half=True)
    (out / "test_metrics.json").write_text(json.dumps(test_metrics, indent=2) + "\n")
    log.info("test metrics: %s", json.dumps({k: v for k, v in test_metrics.items() if not isinstance(v, dict | list)}))
    return final
