from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ml.plots import plot_history


def _row(epoch: int, averaged: bool) -> dict[str, float]:
    row = {"epoch": epoch, "train_loss": 1.0, "val_loss": 0.9, "train_accuracy": 0.5, "val_accuracy": 0.6}
    row |= {"val_balanced_accuracy": 0.55, "val_quadratic_weighted_kappa": 0.4}
    if averaged:
        row |= {"swa_val_loss": 0.7, "swa_val_balanced_accuracy": 0.8, "swa_val_quadratic_weighted_kappa": 0.7}
    return row


def test_curves_of_a_weight_averaging_run_also_draw_the_average_from_where_it_began(tmp_path: Path) -> None:
    # Averaging from epoch 2: the first row has no average, which must not break the figure.
    plain, averaged = tmp_path / "plain.png", tmp_path / "averaged.png"
    plot_history([_row(1, False), _row(2, False), _row(3, False)], plain)
    plot_history([_row(1, False), _row(2, True), _row(3, True)], averaged)
    a, b = (np.asarray(Image.open(path).convert("RGB")) for path in (plain, averaged))
    assert a.shape == b.shape
    assert (a != b).any(axis=2).sum() > 500  # the average's lines and legend entries, not a stray pixel
