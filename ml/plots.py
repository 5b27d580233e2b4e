"""Figures: training curves, confusion matrices, ROC, t-SNE."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # headless: workers and CI have no display
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def figure_path(out: str | Path) -> Path:
    """Where a figure asked for at `out` is written, its folder made: matplotlib adds ".png" to a name
    without a suffix, and the command must report the file it wrote, not the name it was given."""
    path = Path(out)
    path = path if path.suffix else path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def plot_history(history: Sequence[dict[str, float]], path: Path) -> None:
    """Loss and accuracy per epoch, train and validation, as in the original write-up."""
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    loss_ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    acc_ax.plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train (balanced draw, augmented)")
    acc_ax.plot(epochs, [r["val_accuracy"] for r in history], "o-", label="validation accuracy")
    acc_ax.plot(epochs, [r["val_balanced_accuracy"] for r in history], "o-", label="validation balanced accuracy")
    acc_ax.plot(epochs, [r["val_quadratic_weighted_kappa"] for r in history], "o-", label="validation QWK")
    _plot_average(history, loss_ax, acc_ax)
    acc_ax.set(title="Accuracy", xlabel="epoch", ylim=(0, 1))
    for ax in (loss_ax, acc_ax):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        # A run continued from a checkpoint (train --init): mark where each later stage began.
        for row, previous in zip(history[1:], history, strict=False):
            if row.get("stage", 1) != previous.get("stage", 1):
                ax.axvline(row["epoch"] - 0.5, color="grey", linestyle="--", linewidth=1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_average(history: Sequence[dict[str, float]], loss_ax: Axes, acc_ax: Axes) -> None:
    """A weight-averaging run (train --average-from) keeps the average: draw its validation too, dashed."""
    rows = [r for r in history if "swa_val_loss" in r]
    if not rows:
        return
    epochs = [r["epoch"] for r in rows]
    loss_ax.plot(epochs, [r["swa_val_loss"] for r in rows], "s--", label="validation, weight average")
    for key, label in (("balanced_accuracy", "balanced accuracy"), ("quadratic_weighted_kappa", "QWK")):
        acc_ax.plot(epochs, [r[f"swa_val_{key}"] for r in rows], "s--", label=f"validation {label}, weight average")


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path) -> None:
    """Counts and row-normalised (recall per true class) side by side."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, data, title, fmt in (
        (axes[0], matrix, "Counts", "{:d}"),
        (axes[1], normalised, "Row-normalised", "{:.2f}"),
    ):
        ax.imshow(data, cmap="Blues", vmin=0, vmax=data.max() if data.max() > 0 else 1)
        ax.set(title=title, xlabel="predicted", ylabel="true", xticks=range(len(labels)), yticks=range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_yticklabels(labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                value = data[i, j]
                colour = "white" if value > data.max() / 2 else "black"
                ax.text(
                    j, i, fmt.format(int(value) if fmt == "{:d}" else value), ha="center", va="center", color=colour
                )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc(referable: np.ndarray, scores: np.ndarray, auc: float | None, path: Path) -> None:
    """ROC for referable DR (Mild or worse), with the clinical reference point."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if auc is not None:
        fpr, tpr, _ = roc_curve(referable, scores)
        ax.plot(fpr, tpr, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.plot([1 - 0.91], [0.87], "r*", markersize=12, label="clinical reference (87% sens, 91% spec)")
    ax.set(
        title="Referable DR (Mild or worse)", xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1)
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_embedding(points: np.ndarray, labels: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 6))
    for index, name in enumerate(names):
        chosen = labels == index
        ax.scatter(points[chosen, 0], points[chosen, 1], s=8, alpha=0.7, label=f"{name} ({chosen.sum()})")
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
