"""Do other decision rules than argmax help? Tuned on validation predictions, measured on test ones.

Reads two `predictions.csv` files written by `python -m ml evaluate` (one for `--split val`, one for the
test split) and prints balanced accuracy and QWK on both for:
- argmax of the calibrated probabilities (what the Predictor does);
- argmax after per-class offsets on the log-probabilities, searched on validation for the best mean of
  balanced accuracy and QWK (the training monitor);
- the class of least expected quadratic cost;
- thresholds on the expected class index, searched on validation.

    python scripts/decision_rules.py VAL_PREDICTIONS.csv TEST_PREDICTIONS.csv
"""

from __future__ import annotations

import csv
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.metrics import balanced_accuracy_from, quadratic_kappa_from

CLASSES = 3
Rule = Callable[[np.ndarray], np.ndarray]


def load(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities (n x 3) and true classes from an evaluate predictions.csv."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for name in rows[0] if name.startswith("p_")]
    probs = np.array([[float(row[name]) for name in columns] for row in rows])
    return np.log(np.clip(probs, 1e-9, 1.0)), np.array([int(row["true_class"]) for row in rows])


def scores(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    confusion = np.bincount(truth * CLASSES + predicted, minlength=CLASSES**2).reshape(CLASSES, CLASSES)
    return balanced_accuracy_from(confusion), quadratic_kappa_from(confusion)


def best_on(log_probs: np.ndarray, truth: np.ndarray, rules: dict[str, Rule]) -> str:
    """The rule with the best mean of balanced accuracy and QWK on these predictions."""
    return max(rules, key=lambda name: sum(scores(truth, rules[name](log_probs))) / 2)


def with_offsets(offsets: np.ndarray) -> Rule:
    return lambda log_probs: (log_probs + offsets).argmax(1)


def with_thresholds(thresholds: tuple[float, float]) -> Rule:
    return lambda log_probs: np.digitize(np.exp(log_probs) @ np.arange(CLASSES), thresholds)


def offset_rules() -> dict[str, Rule]:
    grid = np.round(np.arange(-2.0, 2.001, 0.05), 2)
    return {
        f"offsets Mild {mild:+.2f}, Proliferative {prolif:+.2f}": with_offsets(np.array([0.0, mild, prolif]))
        for mild, prolif in itertools.product(grid, grid)
    }


def threshold_rules() -> dict[str, Rule]:
    grid = np.round(np.arange(0.3, 1.71, 0.05), 2)
    return {
        f"expected class thresholds {low:.2f}, {high:.2f}": with_thresholds((low, high))
        for low, high in itertools.product(grid, grid)
        if low < high
    }


def least_cost(log_probs: np.ndarray) -> np.ndarray:
    cost = (np.arange(CLASSES)[:, None] - np.arange(CLASSES)[None, :]) ** 2
    return (np.exp(log_probs) @ cost).argmin(1)


def main() -> None:
    (val_lp, val_y), (test_lp, test_y) = load(sys.argv[1]), load(sys.argv[2])
    chosen = {"argmax": lambda lp: lp.argmax(1), "least expected quadratic cost": least_cost}
    for family in (offset_rules(), threshold_rules()):
        name = best_on(val_lp, val_y, family)
        chosen[name] = family[name]
    print(f"{'rule':58s} {'val BA':>7s} {'val QWK':>7s} {'test BA':>7s} {'test QWK':>8s}")
    for name, rule in chosen.items():
        (vb, vq), (tb, tq) = scores(val_y, rule(val_lp)), scores(test_y, rule(test_lp))
        print(f"{name:58s} {vb:7.3f} {vq:7.3f} {tb:7.3f} {tq:8.3f}")


if __name__ == "__main__":
    main()
