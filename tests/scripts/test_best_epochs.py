from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.scripts.conftest import load_script


@pytest.fixture(scope="module")
def best_epochs() -> ModuleType:
    return load_script("best_epochs")


def _row(epoch: int, live: float, average: float | None = None) -> dict[str, float]:
    row = {
        "epoch": epoch,
        "val_balanced_accuracy": live,
        "val_quadratic_weighted_kappa": live,
        "val_balanced_accuracy_kappa": live,
    }
    if average is not None:
        row |= {
            "swa_val_balanced_accuracy": average,
            "swa_val_quadratic_weighted_kappa": average,
            "swa_val_balanced_accuracy_kappa": average,
        }
    return row


def _run(tmp_path: Path, rows: list[dict[str, float]]) -> Path:
    (tmp_path / "history.json").write_text(json.dumps(rows))
    return tmp_path


def test_a_plain_run_reports_its_best_epoch(
    best_epochs: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path, [_row(1, 0.4), _row(2, 0.6), _row(3, 0.5)])
    assert best_epochs.main([str(run)]) == 0
    out = capsys.readouterr().out
    assert "3 epochs, best epoch 2: val balanced accuracy 0.600" in out
    assert "average" not in out


def test_an_averaging_run_reports_the_average_it_kept_not_the_best_live_epoch(
    best_epochs: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As in the GPU run of 2026-11-27: the live weights peaked at epoch 3, the kept average at epoch 2.
    run = _run(tmp_path, [_row(1, 0.50, 0.55), _row(2, 0.52, 0.58), _row(3, 0.59, 0.56)])
    best_epochs.main([str(run)])
    out = capsys.readouterr().out
    assert "best epoch 2 (weight average): val balanced accuracy 0.580, QWK 0.580, mean 0.580" in out


def test_averaging_that_began_late_is_judged_only_on_its_averaged_epochs(
    best_epochs: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path, [_row(1, 0.70), _row(2, 0.50, 0.52), _row(3, 0.50, 0.51)])
    best_epochs.main([str(run)])
    assert "best epoch 2 (weight average)" in capsys.readouterr().out


def test_a_run_without_history_is_named(
    best_epochs: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    best_epochs.main([str(tmp_path)])
    assert "no history.json" in capsys.readouterr().out
