"""Validation balanced accuracy / QWK / mean: plain, mirrored, and the two averaged (test-time mirroring).

.venv/bin/python docs/model/experiments/2026-11-27-posthoc/mirror.py OUT_DIR   (features.py's output)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from ml.calibration import softmax
from ml.metrics import balanced_accuracy_from, quadratic_kappa_from

TEMPERATURE = 0.6376  # the shipped card's


def score(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    confusion = np.bincount(truth * 3 + predicted, minlength=9).reshape(3, 3)
    balanced, kappa = balanced_accuracy_from(confusion), quadratic_kappa_from(confusion)
    return round(balanced, 4), round(kappa, 4), round((balanced + kappa) / 2, 4)


def main(out: str) -> None:
    val = np.load(Path(out) / "val.npz")
    y, plain, mirrored = val["y"], val["logit"], val["logit_f"]
    print("plain", score(y, plain.argmax(1)))
    print("mirrored", score(y, mirrored.argmax(1)))
    print("mean of logits", score(y, (plain + mirrored).argmax(1)))
    print("mean of probabilities", score(y, (softmax(plain, TEMPERATURE) + softmax(mirrored, TEMPERATURE)).argmax(1)))


if __name__ == "__main__":
    main(sys.argv[1])
