"""The Predictor: load a checkpoint once, grade a batch of fundus photographs in one forward pass.

This is the contract the Django worker codes against (screening/ is the one bridge to ml/).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from threadpoolctl import ThreadpoolController

from ml.augment import to_model_input
from ml.checkpoint import load_checkpoint
from ml.heatmaps import gradcam, overlay, place_on_image
from ml.preprocess import FieldBox, preprocess

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = "dr-vit.safetensors"


def default_checkpoint_path() -> Path:
    """The model shipped in the repository."""
    return WEIGHTS_DIR / DEFAULT_CHECKPOINT


@dataclass
class ImagePrediction:
    class_index: int
    label: str
    confidences: dict[str, float]  # calibrated (temperature-scaled), sums to 1, keyed by label
    heatmap: np.ndarray | None  # float32 H x W in [0, 1], the input image's size
    overlay: Image.Image | None  # RGB heatmap blended on the photograph, the input image's size
    inference_seconds: float  # the batch's wall time shared equally among its images


class Predictor:
    """Grades fundus photographs with a shipped or given checkpoint; construct once per process."""

    def __init__(self, checkpoint_path: str | Path | None = None, device: str | None = None) -> None:
        path = Path(checkpoint_path) if checkpoint_path is not None else default_checkpoint_path()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.card = load_checkpoint(path, self.device)
        # Frozen: Grad-CAM then tracks only the head's few layers, not the whole network.
        self.model.requires_grad_(False)
        self.checkpoint_path = path
        self.version: str = str(self.card.get("version", "unknown"))
        self.checkpoint_sha256: str = self.card["sha256"]
        self.labels: tuple[str, ...] = tuple(self.card["classes"])
        self.image_size = int(self.card["image_size"])
        self.temperature = float(self.card.get("temperature", 1.0))
        self.norm = self.card["normalisation"]
        self.ben = bool(self.card.get("preprocessing", {}).get("ben_graham", True))
        self._pool = ThreadPoolExecutor(2)  # PIL and numpy release the GIL: both eyes at once
        # The heatmap's small matrix products must not wake OpenBLAS's own threads: they spin after each
        # call and starve the model's threads (measured: 85 ms -> 46 ms per examination on 2 cores).
        self._blas = ThreadpoolController()

    def prepare(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[FieldBox]]:
        results = list(self._pool.map(lambda image: preprocess(image, self.image_size, self.ben), images))
        return np.stack([array for array, _ in results]), [box for _, box in results]

    def probabilities(self, arrays: np.ndarray, heatmaps: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated class probabilities (and Grad-CAM grids of the predicted class) for uint8 NHWC images."""
        x = to_model_input(torch.from_numpy(arrays).to(self.device), self.norm["mean"], self.norm["std"])
        grids = None
        if heatmaps:
            logits, grids = gradcam(self.model, x)
        else:
            with torch.inference_mode():
                logits = self.model(x)
        probs = torch.softmax(logits.float() / self.temperature, dim=1).cpu().numpy().astype(np.float64)
        return probs, grids

    def predict(self, images: list[Image.Image], heatmaps: bool = True) -> list[ImagePrediction]:
        """Grade the images in one forward pass; heatmaps (Grad-CAM) come from the same pass."""
        if not images:
            return []
        started = time.perf_counter()
        images = [image.convert("RGB") for image in images]
        arrays, boxes = self.prepare(images)
        probs, grids = self.probabilities(arrays, heatmaps)
        if grids is None:
            explained = [(None, None)] * len(images)
        else:
            with self._blas.limit(limits=1, user_api="blas"):
                explained = list(self._pool.map(self._explain, images, grids, boxes))
        results = [self._prediction(p, heat, blended) for p, (heat, blended) in zip(probs, explained, strict=True)]
        seconds = (time.perf_counter() - started) / len(images)
        for result in results:
            result.inference_seconds = seconds
        return results

    @staticmethod
    def _explain(image: Image.Image, grid: np.ndarray, box: FieldBox) -> tuple[np.ndarray, Image.Image]:
        heat = place_on_image(grid, box, image.size)
        return heat, overlay(image, heat)

    def _prediction(self, probs: np.ndarray, heat: np.ndarray | None, blended: Image.Image | None) -> ImagePrediction:
        probs = probs / probs.sum()
        index = int(probs.argmax())
        confidences = {label: float(p) for label, p in zip(self.labels, probs, strict=True)}
        return ImagePrediction(index, self.labels[index], confidences, heat, blended, 0.0)


def predict_files(paths: Sequence[str], out: str | Path, checkpoint: str | None = None) -> list[dict[str, object]]:
    """The `predict` command: JSON-ready results, with an overlay PNG and a .npy heatmap per image."""
    predictor = Predictor(checkpoint)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = [Image.open(path) for path in paths]
    rows = []
    for path, result in zip(paths, predictor.predict(images), strict=True):
        stem = Path(path).stem
        overlay_path, heatmap_path = out / f"{stem}_heatmap.png", out / f"{stem}_heatmap.npy"
        result.overlay.save(overlay_path)
        np.save(heatmap_path, result.heatmap)
        rows.append(
            {
                "image": str(path),
                "class_index": result.class_index,
                "label": result.label,
                "confidences": result.confidences,
                "heatmap_overlay": str(overlay_path),
                "heatmap_array": str(heatmap_path),
                "model_version": predictor.version,
            }
        )
    json.dumps(rows)  # fail here, not in the caller, if anything is not serialisable
    return rows
