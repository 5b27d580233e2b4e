"""The shipped model's pre-logit features and logits, plain and mirrored, for splits of the three sets.

    .venv/bin/python docs/model/experiments/2026-11-27-posthoc/features.py OUT_DIR val train

writes OUT_DIR/<split>.npz (feat, logit, feat_f, logit_f, y, source, patient, eye). Only val and train were
used: the test split was not graded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from ml.augment import to_model_input  # noqa: E402
from ml.cache import load_images  # noqa: E402
from ml.evaluate import select_samples  # noqa: E402
from ml.predictor import Predictor  # noqa: E402

DATA = [ROOT.parent / "shared" / "data" / name for name in ("eyepacs-1024", "eyepacs-256-enhanced", "srahim-1024")]


def extract(predictor: Predictor, arrays: np.ndarray) -> dict[str, np.ndarray]:
    model, out = predictor.model, {"feat": [], "logit": [], "feat_f": [], "logit_f": []}
    with torch.inference_mode():
        for i in range(0, len(arrays), 64):
            x = to_model_input(torch.from_numpy(arrays[i : i + 64]), predictor.norm["mean"], predictor.norm["std"])
            for suffix, view in (("", x), ("_f", x.flip(3))):
                features = model.forward_head(model.forward_features(view), pre_logits=True)
                out["feat" + suffix].append(features.numpy())
                out["logit" + suffix].append(model.head(features).numpy())
    return {key: np.concatenate(value) for key, value in out.items()}


def main(out: str, splits: list[str]) -> None:
    predictor = Predictor()
    for split in splits:
        arrays, kept = load_images(select_samples(DATA, split), predictor.image_size, predictor.ben)
        result = extract(predictor, arrays)
        result |= {
            "y": np.array([s.label for s in kept]),
            "source": np.array([s.source for s in kept]),
            "patient": np.array([s.patient_id for s in kept]),
            "eye": np.array([s.eye for s in kept]),
        }
        np.savez(Path(out) / f"{split}.npz", **result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
