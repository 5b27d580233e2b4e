"""`fit-pairing`: fit how an existing checkpoint grades both eyes together, on its validation split.

Training does this itself (train.finalise); this command gives a checkpoint trained before pairing existed
the same card section, measured the same way: fitted on the validation split, then the test split's
metrics with it (in the section; the card's own test metrics stay each eye's alone). The weights are
written again with the new card embedded (same values, same version: whether an examination's eyes were
graded together is the portal's setting, and each prediction records it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml.checkpoint import load_checkpoint, save_checkpoint
from ml.evaluate import grade_samples, select_samples
from ml.pairing import fit_on, with_pairing
from ml.predictor import Predictor, default_checkpoint_path


def fit_checkpoint_pairing(
    data: Sequence[str | Path], checkpoint: str | Path | None = None, out: str | Path | None = None, seed: int = 0
) -> dict[str, Any]:
    """Fit on the patient-level split's validation part, measure on its test part, write the checkpoint
    (in place unless `out` is given); returns the new card's pairing section and test metrics."""
    source = Path(checkpoint) if checkpoint else default_checkpoint_path()
    val_samples, test_samples = select_samples(data, "val", seed), select_samples(data, "test", seed)
    predictor = Predictor(source)
    val_probs, val_kept = grade_samples(predictor, val_samples)  # single-eye: no partner is passed
    test_probs, test_kept = grade_samples(predictor, test_samples)
    section = fit_on(val_probs, np.array([s.label for s in val_kept]), val_kept)
    if section is None:
        raise ValueError("no patient of the validation split has both eyes here: nothing to fit pairing on")
    card = {k: v for k, v in predictor.card.items() if k not in ("sha256", "weights_file", "dtype")}
    card = with_pairing(card, section, (test_probs, np.array([s.label for s in test_kept]), test_kept))
    card["pairing"]["split"] = f"seed={seed} over {[str(d) for d in data]}"
    target = Path(out) if out else source
    # The weights as stored, not the Predictor's inference copy (its standardisations are folded in).
    model, _ = load_checkpoint(source)
    final = save_checkpoint(model, target, card, half=True)
    return {"checkpoint": str(target), "version": final["version"], "pairing": final["pairing"]}
