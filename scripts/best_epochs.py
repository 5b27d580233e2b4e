"""Print each training run's best validation epoch (by the mean of balanced accuracy and QWK).

Usage: python scripts/best_epochs.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(runs: list[str]) -> int:
    for run in runs:
        history_file = Path(run) / "history.json"
        if not history_file.is_file():
            print(f"{run}: no history.json (see its train.log)")
            continue
        rows = json.loads(history_file.read_text())
        best = max(rows, key=lambda r: r["val_balanced_accuracy_kappa"])
        print(
            f"{run}: {len(rows)} epochs, best epoch {best['epoch']}: val balanced accuracy "
            f"{best['val_balanced_accuracy']:.3f}, QWK {best['val_quadratic_weighted_kappa']:.3f}, "
            f"mean {best['val_balanced_accuracy_kappa']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
