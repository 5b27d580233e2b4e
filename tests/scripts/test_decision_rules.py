from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.scripts.conftest import load_script


@pytest.fixture(scope="module")
def rules() -> ModuleType:
    return load_script("decision_rules")


def _predictions(informative: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-probabilities, truth and patients of 200 patients with two eyes each, unequal classes."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.choice(3, 200, p=[0.6, 0.3, 0.1]), 2)
    patients = np.repeat([f"set/{i}" for i in range(200)], 2)
    logits = rng.normal(size=(400, 3))
    if informative:
        logits[np.arange(400), truth] += 2.0
    return np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True)), truth, patients


def test_a_rule_that_undoes_a_systematic_bias_gains_on_held_out_patients(rules: ModuleType) -> None:
    log_probs, truth, patients = _predictions(informative=True)
    log_probs[:, 1] -= 3.0  # argmax almost never says Mild: per-class offsets can put it back
    gains = rules.held_out_gains(log_probs, truth, patients, rules.offset_rules(), repeats=2)
    assert len(gains) == 4 and (gains > 0.05).all()


def test_a_rule_fitted_to_noise_gains_in_sample_but_not_on_held_out_patients(rules: ModuleType) -> None:
    log_probs, truth, patients = _predictions(informative=False)
    family = rules.offset_rules()
    fitted = family[rules.best_on(log_probs, truth, family)]
    in_sample = rules.mean_score(truth, fitted(log_probs)) - rules.mean_score(truth, log_probs.argmax(1))
    held_out = rules.held_out_gains(log_probs, truth, patients, family, repeats=2)
    assert in_sample > 0.015
    assert held_out.mean() < in_sample / 2


def test_given_validation_alone_it_cross_validates_and_never_reads_test(
    rules: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_probs, truth, patients = _predictions(informative=True)
    path = tmp_path / "predictions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source", "patient_id", "true_class", "p_No DR", "p_Mild", "p_Proliferative"])
        for i, (row, label, patient) in enumerate(zip(np.exp(log_probs), truth, patients, strict=True)):
            source, patient_id = patient.split("/")
            writer.writerow([f"{i}.jpg", source, patient_id, label, *row])
    rules.main([str(path), "--repeats", "1"])
    printed = capsys.readouterr().out
    assert "argmax on all of it" in printed
    assert "per-class offsets: held-out gain" in printed and "of 2 halves" in printed
    assert "expected class thresholds: held-out gain" in printed
