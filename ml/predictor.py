"""The Predictor: load a checkpoint once, grade a batch of fundus photographs in one forward pass.

This is the contract the Django worker codes against (screening/ is the one bridge to ml/).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from threadpoolctl import ThreadpoolController

from ml.augment import to_model_input
from ml.checkpoint import CheckpointError, load_checkpoint
from ml.data import eye_from_filename, patient_from_filename
from ml.heatmaps import cam_layer, gradcam, overlay, place_on_image
from ml.models import fold_weight_standardisation
from ml.pairing import Pairing, partners
from ml.preprocess import FieldBox, as_rgb, preprocess, read_photograph

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
    # The image's own probabilities, before the other eye's were pooled in (equal to confidences when the
    # image was graded alone): the seed rule's score is read from these.
    single_eye_confidences: dict[str, float] = field(default_factory=dict)
    other_eye_used: bool = False  # graded together with the same patient's other eye (ml/pairing.py)

    @property
    def single_eye_class(self) -> int:
        """The class index this image alone would be given."""
        own = self.single_eye_confidences or self.confidences
        return list(own.values()).index(max(own.values()))

    @property
    def single_eye_score(self) -> float:
        """The confidence of the class this image alone would be given (the seed rule's evaluation score)."""
        return max((self.single_eye_confidences or self.confidences).values())


class Predictor:
    """Grades fundus photographs with a shipped or given checkpoint; construct once per process."""

    def __init__(self, checkpoint_path: str | Path | None = None, device: str | None = None) -> None:
        path = Path(checkpoint_path) if checkpoint_path is not None else default_checkpoint_path()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.card = load_checkpoint(path, self.device)
        # Frozen: Grad-CAM then tracks only its layer onwards, not the whole network; and the hybrid's
        # weight standardisation, a function of frozen weights, is done once instead of in every pass.
        self.model.requires_grad_(False)
        fold_weight_standardisation(self.model)
        self.checkpoint_path = path
        self.version: str = str(self.card.get("version", "unknown"))
        self.checkpoint_sha256: str = self.card["sha256"]
        self.labels: tuple[str, ...] = tuple(self.card["classes"])
        self.image_size = int(self.card["image_size"])
        self.temperature = float(self.card.get("temperature", 1.0))
        self.norm = self.card["normalisation"]
        self.ben = bool(self.card.get("preprocessing", {}).get("ben_graham", True))
        # Fitted on validation (ml/pairing.py); None for a checkpoint without it: the eyes are then graded apart.
        self.pairing = Pairing.from_card(self.card)
        # What Grad-CAM explains: the card's choice where it records one (measured by deletion curves).
        self.heatmap_layer: str = self.card.get("heatmap_layer") or cam_layer(self.model)
        try:  # a card naming no such layer fails here, not in the middle of grading
            self.model.get_submodule(self.heatmap_layer)
        except AttributeError as error:
            message = f"the model card's heatmap_layer {self.heatmap_layer!r} is not a layer of the model"
            raise CheckpointError(message) from error
        self._pool = ThreadPoolExecutor(2)  # PIL and numpy release the GIL: both eyes at once
        # The heatmap's small matrix products must not wake OpenBLAS's own threads: they spin after each
        # call and starve the model's threads (measured: 85 ms -> 46 ms per examination on 2 cores).
        self._blas = ThreadpoolController()

    def prepare(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[FieldBox]]:
        results = list(self._pool.map(lambda image: preprocess(image, self.image_size, self.ben), images))
        return np.stack([array for array, _ in results]), [box for _, box in results]

    def probabilities(
        self, arrays: np.ndarray, heatmaps: bool = False, partner: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated class probabilities (and Grad-CAM grids of the chosen class) for uint8 NHWC images.

        partner[i] is the row of image i's other eye (or -1): with the card's pairing, each eye's
        probabilities then borrow from the other's, and the heatmap explains the class finally chosen.
        """
        _, probs, grids = self._grade(arrays, heatmaps, partner)
        return probs, grids

    def _grade(
        self, arrays: np.ndarray, heatmaps: bool, partner: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Each image's own probabilities, the final ones (paired where asked), and the Grad-CAM grids."""
        x = to_model_input(torch.from_numpy(arrays).to(self.device), self.norm["mean"], self.norm["std"])
        if not heatmaps:
            with torch.inference_mode():
                single = self._calibrated(self.model(x))
            return single, self._paired(single, partner), None
        chosen: dict[str, np.ndarray] = {}

        def target(logits: torch.Tensor) -> torch.Tensor:
            chosen["single"] = self._calibrated(logits)
            chosen["final"] = self._paired(chosen["single"], partner)
            return torch.as_tensor(chosen["final"].argmax(1), device=logits.device)

        _, grids = gradcam(self.model, x, target, self.heatmap_layer)
        return chosen["single"], chosen["final"], grids

    def _calibrated(self, logits: torch.Tensor) -> np.ndarray:
        return torch.softmax(logits.float() / self.temperature, dim=1).cpu().numpy().astype(np.float64)

    def _paired(self, probs: np.ndarray, partner: np.ndarray | None) -> np.ndarray:
        if self.pairing is None or partner is None:
            return probs
        return self.pairing.pool(probs, partner)

    def predict(
        self,
        images: list[Image.Image],
        heatmaps: bool = True,
        eyes: Sequence[str] | None = None,
        patients: Sequence[str] | None = None,
    ) -> list[ImagePrediction]:
        """Grade the images in one forward pass; heatmaps (Grad-CAM) come from the same pass.

        eyes: which eye each image is ("right", "left"); a patient's right and left eye are then graded
        together (ml/pairing.py) where the checkpoint's card says how. patients: whose each image is, when
        the batch holds more than one patient (by default all are one patient's, as in an examination).
        """
        if eyes is not None and len(eyes) != len(images):
            raise ValueError(f"{len(eyes)} eyes named for {len(images)} images")
        if patients is not None and (eyes is None or len(patients) != len(images)):
            raise ValueError("patients need eyes, and one patient per image")
        if not images:
            return []
        started = time.perf_counter()
        images = [as_rgb(image) for image in images]
        arrays, boxes = self.prepare(images)
        partner = None if eyes is None else partners([""] * len(eyes), list(patients or [""] * len(eyes)), list(eyes))
        single, probs, grids = self._grade(arrays, heatmaps, partner)
        explained: list[tuple[np.ndarray | None, Image.Image | None]] = [(None, None)] * len(images)
        if grids is not None:
            with self._blas.limit(limits=1, user_api="blas"):
                explained = list(self._pool.map(self._explain, images, grids, boxes))
        results = [
            self._prediction(p, alone, heat, blended)
            for p, alone, (heat, blended) in zip(probs, single, explained, strict=True)
        ]
        seconds = (time.perf_counter() - started) / len(images)
        paired = self._used_other_eye(partner, len(images))
        for result, both in zip(results, paired, strict=True):
            result.inference_seconds = seconds
            result.other_eye_used = both
        return results

    def _used_other_eye(self, partner: np.ndarray | None, count: int) -> list[bool]:
        if self.pairing is None or partner is None:
            return [False] * count
        return [bool(index >= 0) for index in partner]

    @staticmethod
    def _explain(image: Image.Image, grid: np.ndarray, box: FieldBox) -> tuple[np.ndarray, Image.Image]:
        heat = place_on_image(grid, box, image.size)
        return heat, overlay(image, heat)

    def _prediction(
        self, probs: np.ndarray, single: np.ndarray, heat: np.ndarray | None, blended: Image.Image | None
    ) -> ImagePrediction:
        probs = probs / probs.sum()
        index = int(probs.argmax())
        confidences = {label: float(p) for label, p in zip(self.labels, probs, strict=True)}
        alone = {label: float(p) for label, p in zip(self.labels, single / single.sum(), strict=True)}
        return ImagePrediction(index, self.labels[index], confidences, heat, blended, 0.0, alone)


def predict_files(
    paths: Sequence[str], out: str | Path, checkpoint: str | None = None, eyes_together: bool = False
) -> list[dict[str, object]]:
    """The `predict` command: JSON-ready results, with an overlay PNG and a .npy heatmap per image.

    A file that cannot be read is skipped with a warning and listed with its error; the others are graded.
    """
    read = [(path, read_photograph(path)) for path in paths]
    graded = [path for path, image in read if image is not None]
    if not graded:
        raise ValueError(f"no readable image among {list(paths)}")
    predictor = Predictor(checkpoint)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Files named as Kaggle's are ("<patient>_left.jpeg", "<patient>_right.jpeg") say whose eye each is:
    # with eyes_together, a patient's two eyes given together are graded together (ml/pairing.py).
    names = [Path(path).name for path in graded]
    patients, eyes = [patient_from_filename(n) for n in names], [eye_from_filename(n) for n in names]
    images = [image for _, image in read if image is not None]
    results = predictor.predict(images, eyes=eyes, patients=patients) if eyes_together else predictor.predict(images)
    rows: list[dict[str, object]] = []
    for path, result, stem in zip(graded, results, _unique_stems(graded), strict=True):
        overlay_path, heatmap_path = out / f"{stem}_heatmap.png", out / f"{stem}_heatmap.npy"
        assert result.overlay is not None and result.heatmap is not None  # graded with heatmaps
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
                "other_eye_used": result.other_eye_used,
            }
        )
    rows += [{"image": str(path), "error": "unreadable image: skipped"} for path, image in read if image is None]
    json.dumps(rows)  # fail here, not in the caller, if anything is not serialisable
    return rows


def _unique_stems(paths: Sequence[str]) -> list[str]:
    """Output names for the files: their stems, numbered where two share one ("a.jpg" and "a.png", or
    two folders' "0.jpg"), so that no heatmap overwrites another's."""
    stems = [Path(path).stem for path in paths]
    total, seen = Counter(stems), Counter[str]()
    unique = []
    for stem in stems:
        seen[stem] += 1
        unique.append(stem if total[stem] == 1 else f"{stem}-{seen[stem]}")
    return unique
