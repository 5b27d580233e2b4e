"""Grading metrics: balanced ones first, and referable DR (class >= 1) as screening programmes report it."""

from __future__ import annotations

import warnings
from collections import defaultdict
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


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def balanced_accuracy_from(confusion: np.ndarray) -> float:
    """Mean recall over the classes present (sklearn's balanced_accuracy_score), from a confusion matrix."""
    support = confusion.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(confusion)[present] / support[present]))


def quadratic_kappa_from(confusion: np.ndarray) -> float:
    """Quadratic weighted kappa (sklearn's cohen_kappa_score, weights="quadratic") from a confusion matrix."""
    classes = len(confusion)
    grades = np.arange(classes)
    weights = (grades[:, None] - grades[None, :]) ** 2 / max(classes - 1, 1) ** 2
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / max(confusion.sum(), 1)
    disagreement = float((weights * expected).sum())
    return 1.0 - float((weights * confusion).sum()) / disagreement if disagreement else float("nan")


def bootstrap_intervals(
    y_true: np.ndarray,
    probs: np.ndarray,
    groups: Sequence[str],
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    examinations: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Percentile confidence intervals of the headline metrics, resampling patients (not photographs).

    A patient's two eyes are alike, so resampling photographs would understate the uncertainty; the
    patients (groups) are drawn with replacement instead, each bringing all their photographs. The test
    split has 50-odd Proliferative photographs: the intervals say how far apart two models must be
    before a difference means anything. With `examinations` (a key per photograph, as for
    examination_referral), the referral per examination gets its sensitivity and specificity intervals too.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = probs.argmax(axis=1)
    scores = probs[:, 1:].sum(axis=1)
    keys, members = np.unique(np.asarray(groups), return_inverse=True)
    by_group = [np.flatnonzero(members == g) for g in range(len(keys))]
    exam_of = np.unique(np.asarray(examinations), return_inverse=True)[1] if examinations is not None else None
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        chosen = [by_group[g] for g in rng.integers(0, len(by_group), len(by_group))]
        index = np.concatenate(chosen)
        truth, called = y_true[index], y_pred[index]
        confusion = _confusion(truth, called, probs.shape[1])
        draws["balanced_accuracy"].append(balanced_accuracy_from(confusion))
        draws["quadratic_weighted_kappa"].append(quadratic_kappa_from(confusion))
        _referral_draw(draws, "referable_", truth >= 1, called >= 1)
        if 0 < (truth >= 1).sum() < len(truth):
            draws["referable_roc_auc"].append(float(roc_auc_score(truth >= 1, scores[index])))
        if exam_of is not None:
            # A patient drawn twice brings their examinations twice: each draw slot is its own examination.
            slot = np.repeat(np.arange(len(chosen)), [len(c) for c in chosen])
            _, exam = np.unique(slot * (exam_of.max() + 1) + exam_of[index], return_inverse=True)
            referable, referred = np.zeros(exam.max() + 1, bool), np.zeros(exam.max() + 1, bool)
            np.logical_or.at(referable, exam, truth >= 1)
            np.logical_or.at(referred, exam, called >= 1)
            _referral_draw(draws, "examination_", referable, referred)
    tail = (1 - level) / 2 * 100
    intervals: dict[str, Any] = {"level": level, "rounds": rounds, "resampled": "patients", "groups": len(keys)}
    for name, values in draws.items():
        finite = np.asarray(values)[np.isfinite(values)]
        intervals[name] = (
            [float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))] if finite.size else None
        )
    return intervals


def _referral_draw(draws: dict[str, list[float]], prefix: str, truth: np.ndarray, called: np.ndarray) -> None:
    """Sensitivity and specificity of one bootstrap draw, where defined."""
    if truth.any():
        draws[f"{prefix}sensitivity"].append(float((truth & called).sum() / truth.sum()))
    if (~truth).any():
        draws[f"{prefix}specificity"].append(float((~truth & ~called).sum() / (~truth).sum()))


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    probs: np.ndarray | None = None,
    labels: Sequence[str] = LABELS,
) -> dict[str, Any]:
    """Every metric evaluate reports, from true and predicted classes (and probabilities for the AUC).

    A class absent from a folder (a set of one grade, a small test) is left out of the macro F1 when it is
    neither true nor predicted anywhere, as balanced accuracy leaves it out: counted as an F1 of 0, a
    faultless grading of a one-class folder scored 0.33. Its per-class figures are then null, not 0.
    sklearn's warnings about such undefined figures are silenced: the figures say it (null)."""
    y_true_a, y_pred_a = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    classes = list(range(len(labels)))
    present = sorted(set(y_true_a.tolist()) | set(y_pred_a.tolist()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # UndefinedMetricWarning and "y_pred contains classes..."
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true_a, y_pred_a, labels=classes, zero_division=0
        )
        kappa = cohen_kappa_score(y_true_a, y_pred_a, labels=classes, weights="quadratic")
        balanced = float(balanced_accuracy_score(y_true_a, y_pred_a)) if len(y_true_a) else None
        macro_f1 = (
            float(f1_score(y_true_a, y_pred_a, labels=present, average="macro", zero_division=0)) if present else None
        )
        referable = referable_metrics(y_true_a, y_pred_a, probs)
    predicted = np.bincount(y_pred_a, minlength=len(classes)) if len(y_pred_a) else np.zeros(len(classes), int)
    return {
        "n": len(y_true_a),
        "accuracy": float(np.mean(y_true_a == y_pred_a)) if len(y_true_a) else None,
        "balanced_accuracy": balanced,
        "quadratic_weighted_kappa": None if np.isnan(kappa) else float(kappa),
        "macro_f1": macro_f1,
        "per_class": {
            label: _class_figures(p, r, f, int(s), int(n))
            for label, p, r, f, s, n in zip(labels, precision, recall, f1, support, predicted, strict=True)
        },
        **referable,
        "confusion_matrix": confusion_matrix(y_true_a, y_pred_a, labels=classes).tolist(),
    }


def _class_figures(precision: float, recall: float, f1: float, support: int, predicted: int) -> dict[str, Any]:
    """One class's figures; null where undefined: recall without true cases, precision without predictions."""
    return {
        "precision": float(precision) if predicted else None,
        "recall": float(recall) if support else None,
        "f1": float(f1) if support or predicted else None,
        "support": support,
    }
