from __future__ import annotations

import numpy as np
import pytest

from ml.calibration import expected_calibration_error, fit_temperature, softmax
from ml.metrics import (
    balanced_accuracy_from,
    bootstrap_intervals,
    classification_metrics,
    examination_referral,
    operating_points,
    quadratic_kappa_from,
)


def test_metrics_on_hand_built_predictions_match_known_values() -> None:
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 0, 2, 1]
    m = classification_metrics(y_true, y_pred)
    assert m["n"] == 8
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    # Referable = class >= 1: truly referable 4, caught 3; truly not 4, cleared 3.
    assert m["referable_sensitivity"] == pytest.approx(3 / 4)
    assert m["referable_specificity"] == pytest.approx(3 / 4)
    # Quadratic kappa by hand: observed weighted disagreement 3/8 * (1/4) ... computed from the matrices.
    observed = np.array([[3, 1, 0], [1, 1, 0], [0, 1, 1]])
    weights = np.array([[(i - j) ** 2 / 4 for j in range(3)] for i in range(3)])
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    kappa = 1 - (weights * observed).sum() / (weights * expected).sum()
    assert m["quadratic_weighted_kappa"] == pytest.approx(kappa)
    assert m["confusion_matrix"] == observed.tolist()
    assert m["per_class"]["Mild"]["support"] == 2


def test_referable_auc_uses_mild_plus_proliferative_probability() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    m = classification_metrics([0, 1, 0, 2], probs.argmax(1), probs)
    assert m["referable_roc_auc"] == pytest.approx(1.0)


def test_perfect_predictions_score_one() -> None:
    m = classification_metrics([0, 1, 2, 2], [0, 1, 2, 2])
    assert m["accuracy"] == m["balanced_accuracy"] == m["quadratic_weighted_kappa"] == 1.0


def test_temperature_scaling_lowers_ece_of_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 2000)
    logits = rng.normal(size=(2000, 3))
    logits[np.arange(2000), labels] += 1.0
    logits *= 4  # overconfident
    temperature = fit_temperature(logits, labels)
    assert temperature > 1.5
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, temperature), labels)
    assert after < before / 2


def test_operating_points_read_the_roc_curve_at_the_clinical_reference() -> None:
    negatives = np.arange(20) * 0.05  # 0.0 ... 0.95
    positives = np.array([0.5, 0.61, 0.7, 0.8, 0.92, 0.97, 0.98, 0.99])
    truth = np.r_[np.zeros(20, bool), np.ones(8, bool)]
    points = operating_points(truth, np.r_[negatives, positives])
    # Specificity >= 91% allows one false alarm in 20 (0.95); a threshold of 0.92 keeps it at one and
    # catches four referable of eight. At 0.9 the second false alarm drops specificity to 90%.
    assert points["sensitivity_at_91_specificity"] == pytest.approx(4 / 8)
    # 87% sensitivity needs 7 of 8 caught: threshold 0.61, which clears the 13 negatives below it.
    assert points["specificity_at_87_sensitivity"] == pytest.approx(13 / 20)


def test_operating_points_are_none_with_one_class_only() -> None:
    points = operating_points(np.zeros(4, bool), np.linspace(0, 1, 4))
    assert points == {"sensitivity_at_91_specificity": None, "specificity_at_87_sensitivity": None}


def test_examination_is_referable_when_either_eye_is() -> None:
    # Three examinations: A (right No DR, left Mild), B (both No DR), C (both Proliferative).
    exams = ["A", "A", "B", "B", "C", "C"]
    y_true = np.array([0, 1, 0, 0, 2, 2])
    # A: the model calls only the healthy eye referable; B: one false alarm; C: caught on one eye.
    y_pred = np.array([1, 0, 0, 1, 0, 2])
    probs = np.array([[0.3, 0.6, 0.1], [0.8, 0.1, 0.1], [0.9, 0.05, 0.05], [0.4, 0.5, 0.1],
                      [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])  # fmt: skip
    result = examination_referral(exams, y_true, y_pred, probs)
    assert result["examinations"] == 3
    assert result["referable"] == 2
    # A and C are referable and both are referred (on either eye): sensitivity 1; B is referred too.
    assert result["sensitivity"] == 1.0
    assert result["specificity"] == 0.0
    # Scores are each examination's highest referable probability: A 0.7, B 0.6, C 0.9.
    assert result["roc_auc"] == 1.0


def test_the_fast_confusion_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        y_true, y_pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
        y_pred[:120] = y_true[:120]  # agree more than chance
        reference = classification_metrics(y_true, y_pred)
        confusion = np.array(reference["confusion_matrix"])
        assert balanced_accuracy_from(confusion) == pytest.approx(reference["balanced_accuracy"])
        assert quadratic_kappa_from(confusion) == pytest.approx(reference["quadratic_weighted_kappa"])


def _noisy_probabilities(y_true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    logits = rng.normal(size=(len(y_true), 3))
    logits[np.arange(len(y_true)), y_true] += 1.0
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_bootstrap_intervals_surround_the_measured_value_and_repeat_with_the_seed() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 300)
    probs = _noisy_probabilities(y_true, rng)
    patients = [f"p{i // 2}" for i in range(300)]
    measured = classification_metrics(y_true, probs.argmax(1), probs)
    intervals = bootstrap_intervals(y_true, probs, patients, rounds=300)
    assert intervals["groups"] == 150 and intervals["resampled"] == "patients"
    for name in ("balanced_accuracy", "quadratic_weighted_kappa", "referable_roc_auc"):
        low, high = intervals[name]
        assert low < measured[name] < high
    assert bootstrap_intervals(y_true, probs, patients, rounds=300) == intervals


def test_perfect_predictions_have_no_uncertainty() -> None:
    y_true = np.array([0, 1, 2, 0, 1, 2, 0, 0])
    probs = np.eye(3)[y_true] * 0.9 + 0.1 / 3
    intervals = bootstrap_intervals(y_true, probs, [str(i) for i in range(8)], rounds=100)
    assert intervals["balanced_accuracy"] == [1.0, 1.0]
    assert intervals["quadratic_weighted_kappa"] == [1.0, 1.0]


def test_resampling_patients_not_photographs_widens_the_interval_for_alike_eyes() -> None:
    # Both eyes of a patient carry the same outcome: drawing photographs one by one would pretend there
    # are twice as many independent cases, and give a narrower interval than drawing patients.
    rng = np.random.default_rng(1)
    y_patient = rng.integers(0, 3, 150)
    y_true = np.repeat(y_patient, 2)
    probs = np.repeat(_noisy_probabilities(y_patient, rng), 2, axis=0)
    by_patient = bootstrap_intervals(y_true, probs, [f"p{i // 2}" for i in range(300)], rounds=400)
    by_photograph = bootstrap_intervals(y_true, probs, [f"i{i}" for i in range(300)], rounds=400)
    assert _width(by_patient) > 1.2 * _width(by_photograph)


def _width(intervals: dict) -> float:
    low, high = intervals["balanced_accuracy"]
    return high - low


def test_bootstrap_intervals_of_the_referral_per_examination_surround_the_measured_values() -> None:
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 3, 400)
    probs = _noisy_probabilities(y_true, rng)
    examinations = [f"set/p{i // 2}" for i in range(400)]  # two eyes an examination
    measured = examination_referral(examinations, y_true, probs.argmax(1), probs)
    intervals = bootstrap_intervals(y_true, probs, [f"p{i // 2}" for i in range(400)], 300, examinations=examinations)
    for name in ("sensitivity", "specificity"):
        low, high = intervals[f"examination_{name}"]
        assert low < measured[name] < high
    per_image = classification_metrics(y_true, probs.argmax(1), probs)
    low, high = intervals["referable_sensitivity"]
    assert low < per_image["referable_sensitivity"] < high
