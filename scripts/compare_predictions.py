"""Paired comparison of two `predictions.csv` files of the same photographs (from `python -m ml evaluate`).

Prints B - A for balanced accuracy, QWK and the per-examination referral's sensitivity and specificity,
with 95% percentile intervals from bootstrap draws of patients: both files are scored on the same draws,
so the interval is that of the difference, far narrower than two separate intervals would suggest.

    python scripts/compare_predictions.py A.csv B.csv [--rounds 1000]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.metrics import balanced_accuracy_from, quadratic_kappa_from

NAMES = ("balanced accuracy", "quadratic weighted kappa", "examination sensitivity", "examination specificity")


def _read(path: str) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        # Keyed by the photograph's path below the data folder: the two files may name the root differently.
        return {row["file"].split("/data/")[-1]: row for row in csv.DictReader(handle)}


def _scores(truth: np.ndarray, called: np.ndarray, exams: np.ndarray) -> list[float]:
    confusion = np.bincount(truth * 3 + called, minlength=9).reshape(3, 3)
    keys, inverse = np.unique(exams, return_inverse=True)
    referable = np.zeros(len(keys), bool)
    referred = np.zeros(len(keys), bool)
    np.logical_or.at(referable, inverse, truth >= 1)
    np.logical_or.at(referred, inverse, called >= 1)
    sensitivity = (referable & referred).sum() / max(referable.sum(), 1)
    specificity = (~referable & ~referred).sum() / max((~referable).sum(), 1)
    return [balanced_accuracy_from(confusion), quadratic_kappa_from(confusion), sensitivity, specificity]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()
    a, b = _read(args.a), _read(args.b)
    if set(a) != set(b):
        sys.exit(f"the files grade different photographs ({len(set(a) ^ set(b))} differ)")
    files = sorted(a)
    truth = np.array([int(a[f]["true_class"]) for f in files])
    called = {name: np.array([int(rows[f]["predicted_class"]) for f in files]) for name, rows in (("a", a), ("b", b))}
    patients = np.array([a[f]["patient_id"] for f in files])
    exams = np.array([f"{a[f]['source']}/{a[f]['patient_id']}" for f in files])
    unique = np.unique(patients)
    rows_of = {patient: np.flatnonzero(patients == patient) for patient in unique}
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(args.rounds):
        rows = np.concatenate([rows_of[p] for p in rng.choice(unique, len(unique))])
        one, two = (_scores(truth[rows], called[k][rows], exams[rows]) for k in ("a", "b"))
        draws.append(np.subtract(two, one))
    point = np.subtract(_scores(truth, called["b"], exams), _scores(truth, called["a"], exams))
    low, high = np.percentile(np.array(draws), [2.5, 97.5], axis=0)
    print(f"B - A over {len(files)} photographs, {len(unique)} patients, {args.rounds} paired draws of patients")
    for name, value, lo, hi in zip(NAMES, point, low, high, strict=True):
        print(f"  {name:26s} {value:+.3f}  (95% CI {lo:+.3f} to {hi:+.3f})")


if __name__ == "__main__":
    main()
