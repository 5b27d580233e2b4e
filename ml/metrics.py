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
    roc_curve,
)

from ml.data import LABELS


def _safe_ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def operating_points(is_referable: np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    """Where the ROC curve meets the clinical reference (87% sensitivity at 91% specificity).

    Reports the best sensitivity with specificity at least 91%, and the best specificity with
    sensitivity at least 87%: the two ways of asking how far the model is from the reference.
    """
    if not 0 < is_referable.sum() < len(is_referable):
        return {"sensitivity_at_91_specificity": None, "specificity_at_87_sensitivity": None}
    fpr, tpr, _ = roc_curve(is_referable, scores)
    return {
        "sensitivity_at_91_specificity": float(tpr[fpr <= 0.09 + 1e-12].max()),
        "specificity_at_87_sensitivity": float(1 - fpr[tpr >= 0.87 - 1e-12].min()),
    }


def referable_metrics(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray | None) -> dict[str, float | None]:
    """Sensitivity, specificity and ROC AUC for referable DR (Mild or worse)."""
    true_ref, pred_ref = y_true >= 1, y_pred >= 1
    metrics: dict[str, float | None] = {
        "referable_sensitivity": _safe_ratio(float(np.sum(true_ref & pred_ref)), float(np.sum(true_ref))),
        "referable_specificity": _safe_ratio(float(np.sum(~true_ref & ~pred_ref)), float(np.sum(~true_ref))),
        "referable_roc_auc": None,
        "referable_sensitivity_at_91_specificity": None,
        "referable_specificity_at_87_sensitivity": None,
    }
    if probs is not None and 0 < true_ref.sum() < len(true_ref):
        scores = probs[:, 1:].sum(axis=1)
        metrics["referable_roc_auc"] = float(roc_auc_score(true_ref, scores))
        metrics |= {f"referable_{k}": v for k, v in operating_points(true_ref, scores).items()}
    return metrics


def examination_referral(
    examinations: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray
) -> dict[str, Any]:
    """Referable DR per examination (a patient's photographs of one visit), as the portal decides it.

    The portal recommends referral when either eye is Mild or worse, so an examination is referable when
    any of its photographs is, predicted referable when any is predicted so, and scored by its
    photographs' highest probability of referable DR.
    """
    keys = np.asarray(examinations)
    groups = [keys == key for key in dict.fromkeys(examinations)]
    truth = np.array([bool((y_true[g] >= 1).any()) for g in groups], dtype=bool)
    called = np.array([bool((y_pred[g] >= 1).any()) for g in groups], dtype=bool)
    scores = np.array([float(probs[g, 1:].sum(axis=1).max()) for g in groups])
    result: dict[str, Any] = {
        "examinations": len(groups),
        "referable": int(truth.sum()),
        "sensitivity": _safe_ratio(float(np.sum(truth & called)), float(truth.sum())),
        "specificity": _safe_ratio(float(np.sum(~truth & ~called)), float(np.sum(~truth))),
        "roc_auc": float(roc_auc_score(truth, scores)) if 0 < truth.sum() < len(truth) else None,
    }
    return result | operating_points(truth, scores)


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
