from __future__ import annotations

import numpy as np
import pytest

from ml.calibration import expected_calibration_error, fit_temperature, softmax
from ml.metrics import classification_metrics


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
