"""Grading metrics: balanced ones first, and referable DR (class >= 1) as screening programmes report it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from ml.data import LABELS


def _safe_ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def referable_metrics(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray | None) -> dict[str, float | None]:
    """Sensitivity, specificity and ROC AUC for referable DR (Mild or worse)."""
    true_ref, pred_ref = y_true >= 1, y_pred >= 1
    metrics: dict[str, float | None] = {
        "referable_sensitivity": _safe_ratio(float(np.sum(true_ref & pred_ref)), float(np.sum(true_ref))),
        "referable_specificity": _safe_ratio(float(np.sum(~true_ref & ~pred_ref)), float(np.sum(~true_ref))),
        "referable_roc_auc": None,
    }
    if probs is not None and 0 < true_ref.sum() < len(true_ref):
        metrics["referable_roc_auc"] = float(roc_auc_score(true_ref, probs[:, 1:].sum(axis=1)))
    return metrics


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], probs: np.ndarray | None = None, labels: Sequence[str] = LABELS
) -> dict[str, Any]:
    """Every metric evaluate reports, from true and predicted classes (and probabilities for the AUC)."""
    y_true_a, y_pred_a = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true_a, y_pred_a, labels=classes, zero_division=0
    )
    kappa = cohen_kappa_score(y_true_a, y_pred_a, labels=classes, weights="quadratic")
    return {
        "n": len(y_true_a),
        "accuracy": float(np.mean(y_true_a == y_pred_a)) if len(y_true_a) else None,
        "balanced_accuracy": float(balanced_accuracy_score(y_true_a, y_pred_a)) if len(y_true_a) else None,
        "quadratic_weighted_kappa": None if np.isnan(kappa) else float(kappa),
        "macro_f1": float(f1_score(y_true_a, y_pred_a, labels=classes, average="macro", zero_division=0)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        **referable_metrics(y_true_a, y_pred_a, probs),
        "confusion_matrix": confusion_matrix(y_true_a, y_pred_a, labels=classes).tolist(),
    }
