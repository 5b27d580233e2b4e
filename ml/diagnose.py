"""Where a training step stops being finite: the first module whose output, and the first whose gradient,
is not finite.

Training skips a step whose loss or gradient is not finite (ml/train.py). Continuing the shipped model on
a GPU in bf16 skipped a third of its steps while the same step on the CPU stayed finite (model card), so
the cause has to be found where it happens: `python -m ml nonfinite` runs training's own batches there,
with the weights left as they are, and names the modules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class StepReport:
    """One forward and backward pass: its loss and gradient norm, and the modules whose values were not
    finite, each list in the order the pass reached them."""

    loss: float
    gradient_norm: float
    forward: list[str] = field(default_factory=list)  # modules whose output was not finite
    backward: list[str] = field(default_factory=list)  # modules whose output's gradient was not finite
    parameters: list[str] = field(default_factory=list)  # parameters whose gradient was not finite

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss) and math.isfinite(self.gradient_norm)

    def as_dict(self) -> dict[str, Any]:
        return {"finite": self.finite, **asdict(self)}


def _tensors(output: Any) -> list[torch.Tensor]:
    if torch.is_tensor(output):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for t in output if torch.is_tensor(t)]
    return []


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def step_report(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    criterion: nn.Module,
    autocast: torch.dtype | None = torch.bfloat16,
) -> StepReport:
    """Training's forward and backward pass (autocast as training uses it, or none), hooked on every module.

    The gradients are left on the parameters and no optimiser step is taken: the caller's weights are the
    ones examined. The first name in `forward` is where a non-finite value appeared; the first in
    `backward` is the module whose output first received a non-finite gradient, so the blow-up is in the
    module that runs after it (or in the loss, if it is the last one); a container shares its last child's
    output, so both are named.
    """
    report = StepReport(loss=float("nan"), gradient_norm=float("nan"))

    def watch(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            tensors = _tensors(output)
            if not _all_finite(tensors) and name not in report.forward:
                report.forward.append(name)
            for tensor in tensors:
                if tensor.requires_grad:
                    tensor.register_hook(lambda gradient: _on_gradient(name, gradient))

        return hook

    def _on_gradient(name: str, gradient: torch.Tensor) -> None:
        if not _all_finite([gradient]) and name not in report.backward:
            report.backward.append(name)

    handles = [m.register_forward_hook(watch(n)) for n, m in model.named_modules() if n]
    try:
        model.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            logits = model(x)
            loss = criterion(logits.float(), labels)
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    report.loss = float(loss.detach())
    report.gradient_norm = (
        float(torch.linalg.vector_norm(torch.stack([g.float().norm() for g in grads]))) if grads else 0.0
    )
    report.parameters = [n for n, p in model.named_parameters() if p.grad is not None and not _all_finite([p.grad])]
    return report


def scan(
    data: list[str],
    checkpoint: str | None = None,
    batches: int = 20,
    batch_size: int = 128,
    seed: int = 0,
    autocast: str = "bf16",
) -> dict[str, Any]:
    """`batches` of training's own draws (balanced, augmented on the training device, mixed if the checkpoint's
    run mixed) through `step_report` with its weights; how many steps were not finite and where each began."""
    from collections import Counter

    from ml.checkpoint import load_checkpoint
    from ml.models import data_config
    from ml.predictor import default_checkpoint_path
    from ml.train import (
        OrdinalCostLoss,
        TrainConfig,
        load_splits,
        place_model,
        setup_run,
        training_batches,
    )

    path = checkpoint or str(default_checkpoint_path())
    model, card = load_checkpoint(path)
    trained = card.get("training", {})
    # The checkpoint's own sampling, loss and mixing, so the steps are the ones its training took.
    names = ("balance_power", "label_smoothing", "ordinal_weight", "mixup", "cutmix")
    recipe = {k: trained[k] for k in names if k in trained}
    config = TrainConfig(data=data, batch_size=batch_size, seed=seed, **recipe)
    device, generator = setup_run(config)
    model = place_model(model, device).train()  # dropout and drop-path as in training
    train = load_splits(data, card["image_size"], trained.get("ben", True), seed)["train"]
    criterion = OrdinalCostLoss(config.label_smoothing, config.ordinal_weight)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[autocast]
    draws = training_batches(train, batches * batch_size, config, data_config(model), generator, device)
    reports = [step_report(model, x, targets, criterion, dtype) for x, targets in draws]
    bad = [r for r in reports if not r.finite]
    return {
        "checkpoint": path,
        "device": str(device),
        "autocast": autocast,
        "steps": len(reports),
        "not_finite": len(bad),
        "first_in_forward": dict(Counter(r.forward[0] for r in bad if r.forward)),
        "first_in_backward": dict(Counter(r.backward[0] for r in bad if r.backward)),
        "examples": [r.as_dict() for r in bad[:3]],
    }
