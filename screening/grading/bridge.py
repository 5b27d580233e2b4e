"""The one bridge from the portal to ml/: the worker's Predictor, loaded once per process.

ml/ never imports Django; this module reads the checkpoint setting and hands plain PIL images over.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from .. import dicom

if TYPE_CHECKING:
    from ml.predictor import ImagePrediction, Predictor

    from ..models import EyeImage

logger = logging.getLogger(__name__)

_PREDICTORS: dict[str, Predictor] = {}
_LOCK = threading.Lock()
# The Predictor takes its Grad-CAM heatmaps through a hook on its one model: two batches at once in one
# process (a thread pool worker) would mix their heatmaps. The prefork pool never does that; this makes sure.
_PREDICT_LOCK = threading.Lock()
# Decoding at up to this size is plenty for the model (a few hundred pixels) and the heatmap overlay,
# and JPEG's reduced-scale decoding makes a large photograph several times faster to read.
DECODE_SIZE = 1024
UNREADABLE: tuple[type[Exception], ...] = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    *dicom.DECODING_ERRORS,
)


class PermanentGradingError(Exception):
    """Grading cannot succeed however often it is retried (a damaged image, a missing checkpoint)."""


def checkpoint_path() -> Path:
    """settings.DR_CHECKPOINT_PATH, or the model shipped in the repository."""
    if settings.DR_CHECKPOINT_PATH:
        return Path(settings.DR_CHECKPOINT_PATH)
    from ml.predictor import default_checkpoint_path

    return default_checkpoint_path()


def get_predictor() -> Predictor:
    """The process's Predictor for the configured checkpoint; loaded on first use, then reused."""
    path = checkpoint_path()
    key = str(path.resolve())
    predictor = _PREDICTORS.get(key)
    if predictor is not None:
        return predictor
    with _LOCK:
        if key not in _PREDICTORS:
            from ml.checkpoint import CheckpointError
            from ml.predictor import Predictor
            from ml.runtime import keep_freed_memory

            keep_freed_memory()  # the worker grades the same shapes all day: keep their memory mapped

            try:
                _PREDICTORS[key] = Predictor(checkpoint_path=path)
            except (FileNotFoundError, CheckpointError) as error:
                raise PermanentGradingError(f"The grading model cannot be loaded: {error}") from error
            logger.info("Loaded grading model %s from %s", _PREDICTORS[key].version, path)
    return _PREDICTORS[key]


def predict(photographs: list[Image.Image], eyes: list[str] | None) -> tuple[Predictor, list[ImagePrediction]]:
    """Grade one examination's photographs in one batch with heatmaps; returns the predictor used and its
    results. eyes ("right"/"left" for each): each eye read together with the other (ml/pairing.py); None:
    each alone."""
    predictor = get_predictor()
    with _PREDICT_LOCK:
        return predictor, predictor.predict(photographs, heatmaps=True, eyes=eyes)


def open_eye_image(eye_image: EyeImage) -> Image.Image:
    """The stored photograph, decoded (RGB); PermanentGradingError when it is missing or unreadable."""
    try:
        with eye_image.file.open("rb") as handle:
            if eye_image.format == dicom.FORMAT:
                return _reduced(dicom.stored_photograph(handle.read()))
            image = Image.open(handle)
            if image.format == "JPEG":
                image.draft("RGB", (DECODE_SIZE, DECODE_SIZE))
            image.load()
            return image.convert("RGB")
    except FileNotFoundError as error:
        raise PermanentGradingError(f"The {eye_image.side} eye's photograph is missing from storage.") from error
    except UNREADABLE as error:
        raise PermanentGradingError(f"The {eye_image.side} eye's photograph cannot be read: {error}") from error


def _reduced(image: Image.Image) -> Image.Image:
    """A decoded DICOM photograph reduced by a whole factor to no less than DECODE_SIZE across, as JPEG's
    draft mode reads a JPEG: the same pixels for the model and a heatmap of the same size."""
    factor = min(image.size) // DECODE_SIZE
    return image.reduce(factor) if factor >= 2 else image
