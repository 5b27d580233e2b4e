"""Both eyes together: each eye's grade read in the light of the other eye's photograph.

Diabetic retinopathy is a disease of the patient, not of one eye: in our data the two eyes of a patient
share their class in 89% of the test patients. The Kaggle 2015 winners blended the two eyes' outputs for
that reason. The portal always grades an examination's two photographs together, so each eye's
probabilities can borrow from the other's at no cost:

    pooled = softmax(((1 - w) * log p(own eye) + w * log p(other eye)) / T)

a log-linear pool with one weight w (0: the eyes apart; 0.5: both eyes count alike), and a temperature T
refitted on the pooled scores so the confidences stay calibrated. Both are fitted on the validation
split, never on test (`python -m ml fit-pairing`); the model card keeps them under "pairing". A photograph
graded alone, or one whose other eye is not in the batch, keeps its own probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.calibration import expected_calibration_error, fit_temperature, softmax
from ml.data import Sample
from ml.metrics import balanced_accuracy_from, classification_metrics, quadratic_kappa_from

# Above 0.5 the other eye would count for more than the eye itself.
WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 0.501, 0.05))
OTHER_EYE = {"right": "left", "left": "right"}


@dataclass(frozen=True)
class Pairing:
    weight: float
    temperature: float = 1.0

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> Pairing | None:
        section = card.get("pairing")
        if not section:
            return None
        return cls(float(section["weight"]), float(section.get("temperature", 1.0)))

    def pool(self, probs: np.ndarray, partner: np.ndarray) -> np.ndarray:
        """Pooled probabilities (n x classes); partner[i] is the row of i's other eye, or -1 for none."""
        return pool(probs, partner, self.weight, self.temperature)


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, 1e-12, 1.0))


def pooled_scores(probs: np.ndarray, partner: np.ndarray, weight: float) -> np.ndarray:
    """The pool's log-scores before its temperature; rows without a partner keep their own log-probabilities."""
    own = _log(np.asarray(probs, dtype=np.float64))
    partner = np.asarray(partner, dtype=np.intp)
    other = own.copy()
    has = partner >= 0
    other[has] = own[partner[has]]
    return (1 - weight) * own + weight * other


def pool(probs: np.ndarray, partner: np.ndarray, weight: float, temperature: float = 1.0) -> np.ndarray:
    scores = pooled_scores(probs, partner, weight)
    pooled = softmax(scores, temperature)
    # A photograph without its other eye keeps its probabilities exactly (no temperature either).
    alone = np.asarray(partner) < 0
    pooled[alone] = np.asarray(probs, dtype=np.float64)[alone]
    return pooled


def partners(sources: Sequence[str], patients: Sequence[str], eyes: Sequence[str]) -> np.ndarray:
    """For each photograph, the index of the same patient's other eye from the same set, or -1.

    Pairs only one right with one left photograph: a patient with two photographs of one eye (or an
    unknown eye) is not paired, since which of them belongs with the other eye is not known.
    """
    where: dict[tuple[str, str, str], list[int]] = {}
    for index, key in enumerate(zip(sources, patients, eyes, strict=True)):
        where.setdefault(key, []).append(index)
    result = np.full(len(eyes), -1, dtype=np.intp)
    for (source, patient, eye), indices in where.items():
        other = where.get((source, patient, OTHER_EYE.get(eye, "")), [])
        if eye in OTHER_EYE and len(indices) == 1 and len(other) == 1:
            result[indices[0]] = other[0]
    return result


def sample_partners(samples: Sequence[Sample]) -> np.ndarray:
    return partners([s.source for s in samples], [s.patient_id for s in samples], [s.eye for s in samples])


def _scores(labels: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[float, float]:
    confusion = np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    return balanced_accuracy_from(confusion), quadratic_kappa_from(confusion)


def fit_pairing(probs: np.ndarray, labels: np.ndarray, partner: np.ndarray) -> tuple[Pairing, list[dict[str, float]]]:
    """The weight with the best mean of balanced accuracy and QWK on these (validation) predictions, and
    its temperature; also the table of every weight tried. Ties go to the smaller weight."""
    labels = np.asarray(labels, dtype=int)
    classes = probs.shape[1]
    if not (np.asarray(partner) >= 0).any():
        raise ValueError("no photograph has its other eye here: pairing needs both eyes of some patients")
    table = []
    for weight in WEIGHTS:
        balanced, kappa = _scores(labels, pooled_scores(probs, partner, weight).argmax(1), classes)
        table.append({"weight": weight, "balanced_accuracy": balanced, "quadratic_weighted_kappa": kappa})
    best = max(table, key=lambda row: (row["balanced_accuracy"] + row["quadratic_weighted_kappa"]) / 2)
    paired = np.asarray(partner) >= 0
    scores = pooled_scores(probs, partner, best["weight"])[paired]
    temperature = fit_temperature(scores, labels[paired])
    return Pairing(best["weight"], temperature), table


def pairing_card(
    pairing: Pairing, probs: np.ndarray, labels: np.ndarray, partner: np.ndarray, table: list[dict[str, float]]
) -> dict[str, Any]:
    """The model card's "pairing" section: the fitted values and what they were fitted on."""
    paired = np.asarray(partner) >= 0
    before = expected_calibration_error(softmax(pooled_scores(probs, partner, pairing.weight)[paired]), labels[paired])
    after = expected_calibration_error(pairing.pool(probs, partner)[paired], labels[paired])
    return {
        "rule": "softmax(((1 - weight) * log p(own eye) + weight * log p(other eye)) / temperature)",
        "weight": pairing.weight,
        "temperature": pairing.temperature,
        "fitted_on": f"validation split: {int(paired.sum())} photographs with their other eye",
        "val_ece_before_temperature": before,
        "val_ece_after_temperature": after,
        "weights_tried": table,
    }


def fit_on(probs: np.ndarray, labels: np.ndarray, samples: Sequence[Sample]) -> dict[str, Any] | None:
    """The card's "pairing" section fitted on these (validation) predictions; None where no patient has both
    eyes here, and the checkpoint then grades the eyes apart."""
    partner = sample_partners(samples)
    if not (partner >= 0).any():
        return None
    pairing, table = fit_pairing(probs, labels, partner)
    return pairing_card(pairing, probs, np.asarray(labels, dtype=int), partner, table)


def with_pairing(
    card: dict[str, Any], section: dict[str, Any] | None, test: tuple[np.ndarray, np.ndarray, list[Sample]]
) -> dict[str, Any]:
    """The card with its "pairing" section: the test metrics stay each eye's alone (how the portal grades by
    default); the section carries the test metrics with both eyes together. test: (single-eye probabilities,
    labels, samples)."""
    single, labels, samples = test
    card = {k: v for k, v in card.items() if k != "pairing"}
    card["test_metrics"] = classification_metrics(labels, single.argmax(1), single)
    if section is None:
        return card
    probs = Pairing.from_card({"pairing": section}).pool(single, sample_partners(samples))  # type: ignore[union-attr]
    return card | {"pairing": section | {"test_metrics": classification_metrics(labels, probs.argmax(1), probs)}}
