"""`pretrain`: self-supervised contrastive pretraining (SimCLR) of a timm backbone, no labels used.

Two augmented views of each photograph must pick each other out of the batch (the NT-Xent loss of
Chen et al. 2020). Only the training split's photographs are used, so validation and test stay unseen;
validation labels serve only to watch progress (a k-nearest-neighbour probe of the embeddings). The
backbone is saved as safetensors for `train --pretrained PATH`: the documented lead for a model with
no pretrained weights to start from (docs/model/MODEL_CARD.md). It needs a GPU to be worth running.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from ml.augment import augment
from ml.models import build_model, data_config
from ml.train import (
    Arrays,
    RunConfig,
    Schedule,
    load_splits,
    make_optimizer,
    make_schedule,
    photographs_to,
    place_model,
    predict_logits,
    run_steps,
    setup_run,
)

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig(RunConfig):
    out: str = "runs/pretrain"
    epochs: int = 100
    batch_size: int = 256
    warmup_epochs: float = 2.0
    temperature: float = 0.2
    projection_dim: int = 128
    knn: int = 20


class Contrastive(nn.Module):
    """A backbone and a projection head; takes both views stacked and returns the NT-Xent logits."""

    def __init__(self, backbone: nn.Module, projection_dim: int, temperature: float) -> None:
        super().__init__()
        width = cast(int, backbone.num_features)  # timm's; torch types a module's attributes as Tensor | Module
        self.backbone = backbone
        self.projection = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, projection_dim))
        self.temperature = temperature

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.projection(self.backbone(views)).float(), dim=1)
        logits = z @ z.T / self.temperature
        # A view is not its own positive: mask the diagonal (finite, so the loss stays finite).
        return logits.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), -1e4)


def positives(n: int, device: torch.device) -> torch.Tensor:
    """With views stacked as [view one of 0..n-1, view two of 0..n-1], the index of each row's partner."""
    index = torch.arange(n, device=device)
    return torch.cat([index + n, index])


def pretrain_one_epoch(
    model: Contrastive,
    images: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    step: int,
    config: PretrainConfig,
    norm: dict[str, list[float]],
    generator: torch.Generator,
    device: torch.device,
) -> tuple[dict[str, float], int]:
    """One pass over uniformly drawn photographs; returns the mean loss, the pair-finding accuracy, the step."""
    model.train()
    count = config.samples_per_epoch or len(images)
    order = torch.randint(len(images), (count,), generator=generator)
    own_generator = generator if device.type == "cpu" else None

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in tqdm(order.split(config.batch_size), desc="pretrain", leave=False, mininterval=10):
            chunk = images[batch].to(device, non_blocking=True)
            views = torch.cat([augment(chunk, norm["mean"], norm["std"], own_generator) for _ in range(2)])
            yield views, positives(len(batch), device)

    stats, step = run_steps(
        batches(), model, optimizer, nn.CrossEntropyLoss(), schedule, step, config.grad_clip, device
    )
    return {"train_loss": stats["loss"], "pair_accuracy": stats["accuracy"], "skipped_steps": stats["skipped"]}, step


def knn_balanced_accuracy(
    backbone: nn.Module, train: Arrays, val: Arrays, norm: dict[str, list[float]], device: torch.device, k: int
) -> float:
    """Balanced accuracy of a k-nearest-neighbour vote (cosine, neighbours weighted by similarity) on
    validation: how much of the grade the embeddings already carry, with no classifier trained."""
    # A backbone without a head outputs its pooled features: the "logits" below are the embeddings.
    bank, queries = (
        F.normalize(torch.from_numpy(predict_logits(backbone, part.images, norm, device, batch_size=128)), dim=1)
        for part in (train, val)
    )
    labels = train.labels
    similarity, index = (queries @ bank.T).topk(min(k, len(bank)), dim=1)
    votes = torch.zeros(len(queries), int(labels.max()) + 1)
    votes.scatter_add_(1, labels[index], (similarity / 0.07).exp())
    # Classes are unequal: a vote share above the class's share of the bank counts.
    prior = torch.bincount(labels, minlength=votes.shape[1]).float() / len(labels)
    predicted = (votes / votes.sum(1, keepdim=True) / prior.clamp(min=1e-8)).argmax(1)
    # Balanced accuracy: the mean recall over the classes validation has.
    recalls = [float((predicted[val.labels == c] == c).float().mean()) for c in val.labels.unique()]
    return sum(recalls) / len(recalls)


def save_backbone(backbone: nn.Module, path: Path) -> None:
    state = {name: tensor.detach().float().contiguous().cpu() for name, tensor in backbone.state_dict().items()}
    save_file(state, str(path))


def pretrain(config: PretrainConfig) -> dict[str, Any]:
    """Pretrain, watching a k-NN probe on validation; save the last backbone and the history."""
    device, generator = setup_run(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits(config.data, config.image_size, config.ben, config.seed)
    train, val = splits["train"], splits["val"]
    if len(train.labels) < 2 or len(val.labels) == 0:
        raise ValueError("pretraining needs at least two training photographs and one for validation")
    photographs_to(device, train)
    backbone = build_model(config.architecture, 0, img_size=config.image_size, **config.model_kwargs)
    model = cast(Contrastive, place_model(Contrastive(backbone, config.projection_dim, config.temperature), device))
    norm = data_config(backbone)
    optimizer = make_optimizer(model, config)
    schedule = make_schedule(config, len(train.labels))
    # The probe of the untrained backbone: what pretraining has to beat.
    start = knn_balanced_accuracy(backbone, train, val, norm, device, config.knn)
    log.info("k-NN probe before pretraining: %.4f", start)
    history: list[dict[str, float]] = []
    step = 0
    for epoch in range(1, config.epochs + 1):
        started = time.monotonic()
        stats, step = pretrain_one_epoch(
            model, train.images, optimizer, schedule, step, config, norm, generator, device
        )
        probe = knn_balanced_accuracy(backbone, train, val, norm, device, config.knn)
        row = {"epoch": epoch, **stats, "val_knn_balanced_accuracy": probe, "lr": schedule.lr(step)}
        history.append(row | {"seconds": time.monotonic() - started})
        (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
        log.info("epoch %d %s", epoch, json.dumps({k: round(v, 4) for k, v in row.items()}))
        if schedule.progress(step) >= 1.0:
            break
    path = out / "backbone.safetensors"
    save_backbone(backbone, path)
    probes = {"val_knn_balanced_accuracy_before": start, "val_knn_balanced_accuracy": row["val_knn_balanced_accuracy"]}
    summary = {"backbone": str(path), "epochs": len(history), **probes}
    (out / "pretrain.json").write_text(json.dumps(summary | {"config": asdict(config)}, indent=2) + "\n")
    return summary
