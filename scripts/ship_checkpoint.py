"""Make a training run's checkpoint the shipped one, in two steps around the test evaluation.

    python scripts/ship_checkpoint.py prepare RUN/model.safetensors VERSION [--heatmap-layer NAME] [--out ...]
    python -m ml evaluate --data <the three original sets> --split test --out docs/model/test
    python scripts/ship_checkpoint.py record-test docs/model/test/metrics.json [--out ml/weights/dr-vit.safetensors]
    python scripts/ship_checkpoint.py curves docs/model/history.json RUN/history.json   # a continued run (--init)

`prepare` writes the weights (fp16) under their release version. The run's own test figures are kept,
named for what they are: a run on the exported copy (a GPU run) measured them on that copy, and how the
copy was made is recorded; a run on the originals measured them in training's loop. The shipped card's
`test_metrics` must be the original photographs' through the Predictor (what a clinic's camera gives),
and those can only be measured on the final file. `record-test` puts them in the sidecar card: the
weights and their sha256 stay as `evaluate` saw them, so metrics.json's `checkpoint_sha256` names the
shipped file. `curves` joins a continued run's history to the one it continued, as later stages of one
curve, and redraws `training_curves.png` beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.checkpoint import card_path, load_checkpoint, save_checkpoint, sha256_of
from ml.plots import plot_history

SHIPPED = "ml/weights/dr-vit.safetensors"
ON_ORIGINALS = "the original photographs of the test split, through the Predictor (python -m ml evaluate --split test)"
EXPORT = (
    "python -m ml export --image-size 256 --format webp --quality 85 of "
    "../shared/data/{eyepacs-1024,eyepacs-256-enhanced,srahim-1024}; same patient-level split (seed 0)"
)


def prepare(run: Path, version: str, out: Path, heatmap_layer: str | None = None) -> dict:
    model, card = load_checkpoint(run)
    card = {k: v for k, v in card.items() if k not in ("sha256", "weights_file", "dtype")}
    card["version"] = version
    if heatmap_layer:
        model.get_submodule(heatmap_layer)  # a layer the model lacks fails here, not in the Predictor
        card["heatmap_layer"] = heatmap_layer
    training = card.get("training", {})
    # Runs from before the card said what training saw were all GPU runs on the exported copy.
    exported = training.get("photographs", "exported copy") == "exported copy"
    if "test_metrics" in card:
        card["test_metrics_on_exported_copy" if exported else "test_metrics_at_training"] = card.pop("test_metrics")
    if exported:
        card["training"] = {**training, "data_copy": EXPORT}
    return save_checkpoint(model, out, card)


def record_test(metrics_file: Path, out: Path) -> dict:
    metrics = json.loads(metrics_file.read_text())
    sidecar = card_path(out)
    card = json.loads(sidecar.read_text())
    if not metrics["checkpoint_sha256"] == card["sha256"] == sha256_of(out):
        raise SystemExit(f"{metrics_file} was not measured on {out} as it is now")
    kept = ("n", "accuracy", "balanced_accuracy", "quadratic_weighted_kappa", "macro_f1", "per_class")
    card["test_metrics"] = {k: metrics[k] for k in kept} | {
        k: v for k, v in metrics.items() if k.startswith("referable_") or k in ("confusion_matrix", "per_examination")
    }
    card["test_metrics_measured_on"] = ON_ORIGINALS
    sidecar.write_text(json.dumps(card, indent=2) + "\n")
    return card


def join_histories(earlier: list[dict], later: list[dict]) -> list[dict]:
    """The continued run's epochs numbered on from the earlier run's, each row marked with its stage."""
    last = earlier[-1]
    stage, epoch = last.get("stage", 1) + 1, last["epoch"]
    return [{**row, "stage": row.get("stage", 1)} for row in earlier] + [
        {**row, "epoch": epoch + row["epoch"], "stage": stage} for row in later
    ]


def curves(earlier: Path, later: Path, out: Path) -> list[dict]:
    joined = join_histories(json.loads(earlier.read_text()), json.loads(later.read_text()))
    out.write_text(json.dumps(joined, indent=2) + "\n")
    plot_history(joined, out.with_name("training_curves.png"))
    return joined


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    first = steps.add_parser("prepare")
    first.add_argument("run", type=Path)
    first.add_argument("version")
    first.add_argument("--heatmap-layer", help="the layer Grad-CAM explains, chosen by deletion curves on validation")
    second = steps.add_parser("record-test")
    second.add_argument("metrics", type=Path)
    for step in (first, second):
        step.add_argument("--out", type=Path, default=Path(SHIPPED))
    third = steps.add_parser("curves")
    third.add_argument("earlier", type=Path, help="the history of the run that was continued")
    third.add_argument("later", type=Path, help="the continued run's history.json")
    third.add_argument("--out", type=Path, default=Path("docs/model/history.json"))
    args = parser.parse_args(argv)
    if args.step == "curves":
        joined = curves(args.earlier, args.later, args.out)
        print(json.dumps({"epochs": len(joined), "stages": joined[-1]["stage"]}))
        return 0
    if args.step == "record-test":
        return _report(record_test(args.metrics, args.out))
    return _report(prepare(args.run, args.version, args.out, args.heatmap_layer))


def _report(card: dict) -> int:
    print(json.dumps({"version": card["version"], "sha256": card["sha256"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
