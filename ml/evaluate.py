"""`evaluate`: grade every image of folders in the arranged layout and write the metrics and figures."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from ml.cache import load_images
from ml.data import Sample, load_datasets, split_by_patient
from ml.metrics import bootstrap_intervals, classification_metrics, examination_referral
from ml.pairing import sample_partners
from ml.plots import plot_confusion, plot_roc
from ml.predictor import Predictor

log = logging.getLogger(__name__)


def select_samples(data: Sequence[str | Path], split: str | None = None, seed: int = 0) -> list[Sample]:
    """Every sample of the folders, or one split of the patient-level split (the one training used)."""
    samples = load_datasets(data)
    return split_by_patient(samples, seed=seed)[split] if split else samples


def load_subset(
    predictor: Predictor, data: Sequence[str | Path], max_images: int, split: str | None = None, seed: int = 0
) -> tuple[np.ndarray, list[Sample]]:
    """Preprocessed images of a random subset of at most max_images (figures stay quick on a CPU)."""
    samples = select_samples(data, split, seed)
    if len(samples) > max_images:
        rng = np.random.default_rng(seed)
        samples = [samples[i] for i in sorted(rng.choice(len(samples), max_images, replace=False))]
    return load_images(samples, predictor.image_size, predictor.ben, persist=False)


def grade_samples(
    predictor: Predictor, samples: Sequence[Sample], batch_size: int = 32
) -> tuple[np.ndarray, list[Sample]]:
    """Calibrated probabilities for every readable sample (unreadable ones are skipped with a warning)."""
    arrays, kept = load_images(samples, predictor.image_size, predictor.ben, persist=False)
    probs = [predictor.probabilities(arrays[i : i + batch_size])[0] for i in range(0, len(arrays), batch_size)]
    return (np.concatenate(probs) if probs else np.zeros((0, len(predictor.labels)))), kept


def _write_predictions(
    path: Path, samples: Sequence[Sample], probs: np.ndarray, labels: Sequence[str], paired: np.ndarray
) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source", "patient_id", "eye", "grade", "true_class", "predicted_class",
                         "predicted_label", *[f"p_{label}" for label in labels], "other_eye_used"])  # fmt: skip
        for sample, row, both in zip(samples, probs, paired, strict=True):
            index = int(row.argmax())
            writer.writerow([str(sample.path), sample.source, sample.patient_id, sample.eye, sample.grade,
                             sample.label, index, labels[index], *[f"{p:.6f}" for p in row],
                             "yes" if both else "no"])  # fmt: skip


def _per_source(samples: Sequence[Sample], y_true: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    result = {}
    sources = np.array([s.source for s in samples])
    for source in sorted(set(sources)):
        chosen = sources == source
        metrics = classification_metrics(y_true[chosen], probs[chosen].argmax(1), probs[chosen])
        result[source] = {k: v for k, v in metrics.items() if k not in ("per_class", "confusion_matrix")}
    return result


def _pairing_summary(
    predictor: Predictor, partner: np.ndarray, y_true: np.ndarray, other: np.ndarray | None, used: bool
) -> dict[str, Any]:
    """Whether the headline metrics grade each eye with its other eye, and the metrics the other way.

    other: the probabilities of the way not taken (each eye alone when used, both together when not), or
    None when the checkpoint's card has no pairing."""
    if predictor.pairing is None or other is None:
        return {"used": False, "reason": "the checkpoint's card has no pairing: every eye graded alone"}
    metrics = classification_metrics(y_true, other.argmax(1), other, predictor.labels)
    summary = {k: v for k, v in metrics.items() if k != "per_class"}
    return {
        "used": used,
        "weight": predictor.pairing.weight,
        "photographs_with_other_eye": int((partner >= 0).sum()),
        "single_eye" if used else "eyes_together": summary,
    }


def evaluate(
    data: Sequence[str | Path],
    out: str | Path,
    checkpoint: str | Path | None = None,
    batch_size: int = 32,
    split: str | None = None,
    seed: int = 0,
    bootstrap: int = 1000,
    eyes_together: bool = False,
) -> dict[str, Any]:
    """Write metrics.json, confusion_matrix.png, roc_referable.png and predictions.csv; return the metrics.

    Each eye is graded alone, as the portal does by default; eyes_together pools each photograph with its
    other eye where both are in the folders (ml/pairing.py), as the portal does with DR_GRADE_EYES_TOGETHER.
    The other way's metrics are reported under "pairing" either way."""
    selected = select_samples(data, split, seed)  # a wrong folder fails before the model loads
    if not selected:
        raise ValueError(f"the {split} split of {list(map(str, data))} holds no images (too few patients)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    predictor = Predictor(checkpoint)
    single, samples = grade_samples(predictor, selected, batch_size)
    if not samples:
        raise ValueError(f"no readable images in {list(map(str, data))}")
    y_true = np.array([s.label for s in samples])
    if eyes_together and predictor.pairing is None:
        raise ValueError("the checkpoint's card has no pairing: fit it first (python -m ml fit-pairing)")
    partner = sample_partners(samples)
    any_paired = eyes_together and bool((partner >= 0).any())
    if eyes_together and not any_paired:
        # Nothing to pool: the figures are each eye's alone, and the report must not say otherwise.
        log.warning("--eyes-together: no photograph has its other eye in these folders; each is graded alone")
    pooled = predictor.pairing.pool(single, partner) if predictor.pairing else None
    # Together, pooled is never None: a card without pairing was refused above.
    probs, other = (cast(np.ndarray, pooled), single) if eyes_together else (single, pooled)
    metrics = classification_metrics(y_true, probs.argmax(1), probs, predictor.labels)
    examinations = [f"{s.source}/{s.patient_id}" for s in samples]
    metrics |= {
        "per_source": _per_source(samples, y_true, probs),
        "per_examination": examination_referral(examinations, y_true, probs.argmax(1), probs),
        "pairing": _pairing_summary(predictor, partner, y_true, other, any_paired),
        "model_version": predictor.version,
        "checkpoint_sha256": predictor.checkpoint_sha256,
        "data": [str(d) for d in data] + ([f"split={split} seed={seed}"] if split else []),
    }
    if bootstrap > 0:
        # Grouped by the raw patient id, as the split is: one EyePACS patient can be in two of the sets.
        patients = [s.patient_id for s in samples]
        metrics["confidence_intervals"] = bootstrap_intervals(
            y_true, probs, patients, rounds=bootstrap, seed=seed, examinations=examinations
        )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_confusion(np.array(metrics["confusion_matrix"]), predictor.labels, out / "confusion_matrix.png")
    plot_roc(y_true >= 1, probs[:, 1:].sum(axis=1), metrics["referable_roc_auc"], out / "roc_referable.png")
    paired = (partner >= 0) if eyes_together else np.zeros(len(samples), dtype=bool)
    _write_predictions(out / "predictions.csv", samples, probs, predictor.labels, paired)
    return metrics
