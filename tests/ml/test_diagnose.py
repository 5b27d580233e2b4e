from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from ml.__main__ import main
from ml.checkpoint import load_checkpoint, save_checkpoint
from ml.diagnose import step_report
from tests.conftest import ML_FIXTURES


class Sqrt(nn.Module):
    """Finite going forward at 0, infinite gradient coming back: a blow-up only the backward pass shows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sqrt()


class Overflow(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("inf")


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])


def test_a_finite_step_names_nothing_and_leaves_the_weights_as_they_were() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))
    before = [p.detach().clone() for p in model.parameters()]
    report = step_report(model, *_batch(), nn.CrossEntropyLoss(), autocast=None)
    assert report.finite and report.loss > 0 and report.gradient_norm > 0
    assert report.forward == report.backward == report.parameters == []
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is not None for p in model.parameters())  # the pass really went backwards


def test_a_forward_blow_up_is_named_where_it_first_appears() -> None:
    model = nn.Sequential(nn.Linear(4, 8), Overflow(), nn.Linear(8, 3))
    report = step_report(model, *_batch(), nn.CrossEntropyLoss(), autocast=None)
    assert not report.finite
    assert report.forward[0] == "1"  # not the Linear after it, which only passed it on
    assert "0" not in report.forward


def test_a_backward_only_blow_up_is_named_by_the_output_that_first_received_it() -> None:
    first = nn.Linear(4, 8)
    nn.init.zeros_(first.weight)
    nn.init.zeros_(first.bias)  # its output is 0 everywhere: sqrt(0) is fine, its gradient is not
    model = nn.Sequential(first, Sqrt(), nn.Linear(8, 3))
    report = step_report(model, *_batch(), nn.CrossEntropyLoss(), autocast=None)
    assert report.forward == [] and not report.finite
    assert report.backward[0] == "0"  # the gradient reaching Linear 0's output: Sqrt (module 1) made it
    assert "1" not in report.backward and "2" not in report.backward
    assert report.parameters == ["0.weight", "0.bias"]


def test_bf16_autocast_runs_on_the_cpu_as_training_runs_it_on_a_gpu() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))
    report = step_report(model, *_batch(), nn.CrossEntropyLoss(), autocast=torch.bfloat16)
    assert report.finite


def _scan(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    arguments = ["nonfinite", "--data", str(ML_FIXTURES), "--checkpoint", str(checkpoint)]
    assert main([*arguments, "--batches", "2", "--batch-size", "4"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))


def test_the_command_runs_training_batches_through_a_checkpoint(
    own_cache: None, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _scan(tiny_checkpoint, capsys)
    assert result["steps"] == 2 and result["not_finite"] == 0 and result["autocast"] == "bf16"
    assert result["first_in_forward"] == {} and result["examples"] == []


def test_the_command_names_the_module_of_a_poisoned_checkpoint(
    own_cache: None, tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, card = load_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        model.head.bias[0] = float("inf")
    poisoned = tmp_path / "poisoned" / "model.safetensors"
    poisoned.parent.mkdir()
    save_checkpoint(model, poisoned, card, half=False)
    result = _scan(poisoned, capsys)
    assert result["steps"] == 2 and result["not_finite"] == 2
    assert result["first_in_forward"] == {"head": 2}
    assert result["examples"][0]["forward"][0] == "head"
