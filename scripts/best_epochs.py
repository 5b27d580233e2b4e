"""Print each training run's best validation epoch (by the mean of balanced accuracy and QWK).

For a run with weight averaging (`--average-from`) that is the average's best epoch, the checkpoint the
run kept, not the best of the epochs' own weights, which the run only reports.

Usage: python scripts/best_epochs.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def best_line(run: str, rows: list[dict[str, Any]]) -> str:
    """One line on the run's kept epoch: its validation figures, and which weights they are."""
    averaged = [r for r in rows if "swa_val_balanced_accuracy_kappa" in r]
    prefix, candidates, what = ("val", rows, "")
    if averaged:
        prefix, candidates = "swa_val", averaged
        what = " (weight average)"
    best = max(candidates, key=lambda r: r[f"{prefix}_balanced_accuracy_kappa"])
    return (
        f"{run}: {len(rows)} epochs, best epoch {best['epoch']}{what}: val balanced accuracy "
        f"{best[f'{prefix}_balanced_accuracy']:.3f}, QWK {best[f'{prefix}_quadratic_weighted_kappa']:.3f}, "
        f"mean {best[f'{prefix}_balanced_accuracy_kappa']:.3f}"
    )


def main(runs: list[str]) -> int:
    for run in runs:
        history_file = Path(run) / "history.json"
        if not history_file.is_file():
            print(f"{run}: no history.json (see its train.log)")
            continue
        print(best_line(run, json.loads(history_file.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
