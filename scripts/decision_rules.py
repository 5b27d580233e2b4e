"""Do other decision rules than argmax help? Tuned on validation predictions, measured on test ones.

Reads two `predictions.csv` files written by `python -m ml evaluate` (one for `--split val`, one for the
test split) and prints balanced accuracy and QWK on both for:
- argmax of the calibrated probabilities (what the Predictor does);
- argmax after per-class offsets on the log-probabilities, searched on validation for the best mean of
  balanced accuracy and QWK (the training monitor);
- the class of least expected quadratic cost;
- thresholds on the expected class index, searched on validation.

    python scripts/decision_rules.py VAL_PREDICTIONS.csv TEST_PREDICTIONS.csv

With the validation predictions alone it does not touch test: it cross-validates each fitted family on
validation, by patient (a rule searched on one half of the patients, scored on the other half, the halves
drawn anew each repeat), and prints the mean gain over argmax on the held-out halves. A rule worth trying
on test is one whose held-out gain is positive and clear of its spread.

    python scripts/decision_rules.py VAL_PREDICTIONS.csv [--repeats 20]
"""

from __future__ import annotations

import argparse
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
    log_probs, truth, _ = load_with_patients(path)
    return log_probs, truth


def load_with_patients(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As load, and each row's patient ("source/patient_id": the split's unit)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for name in rows[0] if name.startswith("p_")]
    probs = np.array([[float(row[name]) for name in columns] for row in rows])
    patients = np.array([f"{row['source']}/{row['patient_id']}" for row in rows])
    return np.log(np.clip(probs, 1e-9, 1.0)), np.array([int(row["true_class"]) for row in rows]), patients


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


def mean_score(truth: np.ndarray, predicted: np.ndarray) -> float:
    return sum(scores(truth, predicted)) / 2


def held_out_gains(
    log_probs: np.ndarray, truth: np.ndarray, patients: np.ndarray, family: dict[str, Rule], repeats: int, seed: int = 0
) -> np.ndarray:
    """The family's gain over argmax in mean(balanced accuracy, QWK) on held-out halves of the patients,
    two per repeat (each half in turn searched on, the other scored)."""
    rng = np.random.default_rng(seed)
    unique = np.unique(patients)
    gains = []
    for _ in range(repeats):
        half = np.isin(patients, rng.choice(unique, len(unique) // 2, replace=False))
        for fit, held in ((half, ~half), (~half, half)):
            rule = family[best_on(log_probs[fit], truth[fit], family)]
            argmax = mean_score(truth[held], log_probs[held].argmax(1))
            gains.append(mean_score(truth[held], rule(log_probs[held])) - argmax)
    return np.array(gains)


def cross_validate(path: str, repeats: int) -> None:
    log_probs, truth, patients = load_with_patients(path)
    argmax = scores(truth, log_probs.argmax(1))
    print(f"argmax on all of it: balanced accuracy {argmax[0]:.3f}, QWK {argmax[1]:.3f}, mean {sum(argmax) / 2:.4f}")
    least = scores(truth, least_cost(log_probs))
    print(f"least expected quadratic cost (nothing fitted): mean {sum(least) / 2:.4f}")
    for name, family in (("per-class offsets", offset_rules()), ("expected class thresholds", threshold_rules())):
        gains = held_out_gains(log_probs, truth, patients, family, repeats)
        searched = best_on(log_probs, truth, family)
        in_sample = mean_score(truth, family[searched](log_probs)) - sum(argmax) / 2
        print(
            f"{name}: held-out gain over argmax {gains.mean():+.4f} (sd {gains.std():.4f}, "
            f"positive in {(gains > 0).mean():.0%} of {len(gains)} halves); "
            f"searched on all of it ({searched}) {in_sample:+.4f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("val", help="predictions.csv of evaluate --split val")
    parser.add_argument("test", nargs="?", help="predictions.csv of the test split (leave out to stay off test)")
    parser.add_argument("--repeats", type=int, default=20, help="random halvings of validation's patients")
    args = parser.parse_args(argv)
    if args.test is None:
        cross_validate(args.val, args.repeats)
        return
    (val_lp, val_y), (test_lp, test_y) = load(args.val), load(args.test)
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
