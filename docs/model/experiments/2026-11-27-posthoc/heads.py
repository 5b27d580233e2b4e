"""Logistic-regression heads on the frozen pre-logit features, fitted on the training split (its photographs
and their mirror images, balanced class weights), scored on validation: each eye's own features, and its
features beside its other eye's (with a flag for "no other eye").

    .venv/bin/python docs/model/experiments/2026-11-27-posthoc/heads.py OUT_DIR   (features.py's output)
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mirror import TEMPERATURE, score

from ml.calibration import softmax
from ml.pairing import partners, pool

PAIRING = (0.4, 0.796)  # the shipped card's weight and temperature


def partner_of(split: np.lib.npyio.NpzFile) -> np.ndarray:
    return partners(list(split["source"]), list(split["patient"]), list(split["eye"]))


def with_other_eye(split: np.lib.npyio.NpzFile, key: str = "feat") -> np.ndarray:
    features, partner = split[key], partner_of(split)
    other = np.where((partner >= 0)[:, None], features[np.maximum(partner, 0)], features)
    return np.hstack([features, other, (partner >= 0)[:, None].astype(float)])


def main(out: str) -> None:
    warnings.filterwarnings("ignore")  # lbfgs convergence chatter at the largest C
    train, val = np.load(Path(out) / "train.npz"), np.load(Path(out) / "val.npz")
    print("val plain", score(val["y"], val["logit"].argmax(1)))
    pooled = pool(softmax(val["logit"], TEMPERATURE), partner_of(val), *PAIRING)
    print("val pooled (the card's pairing)", score(val["y"], pooled.argmax(1)))
    print("train plain (in-sample)", score(train["y"], train["logit"].argmax(1)))
    inputs = {
        "own": (np.vstack([train["feat"], train["feat_f"]]), val["feat"]),
        "with other eye": (np.vstack([with_other_eye(train), with_other_eye(train, "feat_f")]), with_other_eye(val)),
    }
    labels = np.concatenate([train["y"], train["y"]])
    for name, (fit_on, scored) in inputs.items():
        scaler = StandardScaler().fit(fit_on)
        for c in (0.001, 0.01, 0.1, 1.0):
            head = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
            head.fit(scaler.transform(fit_on), labels)
            print(name, c, score(val["y"], head.predict_proba(scaler.transform(scored)).argmax(1)))


if __name__ == "__main__":
    main(sys.argv[1])
