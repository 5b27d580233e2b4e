"""Temperature scaling (Guo et al., 2017) fitted on validation logits, and expected calibration error."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.optimize import minimize_scalar


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    log_probs = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64) / temperature, dim=1)
    return float(-log_probs[torch.arange(len(labels)), torch.as_tensor(labels)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising validation negative log-likelihood (searched on log scale)."""
    result = minimize_scalar(
        lambda log_t: _nll(logits, labels, float(np.exp(log_t))), bounds=(np.log(0.05), np.log(20)), method="bounded"
    )
    return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: confidence vs accuracy gap, weighted by bin size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)
