from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ml.data import load_dataset
from ml.preprocess import FIELD_THRESHOLD, _crop_square, _field_mask, ben_graham, find_field


def _squares(fundus_dir: Path, size: int = 96) -> list[Image.Image]:
    images = [Image.open(s.path).convert("RGB") for s in load_dataset(fundus_dir)]
    return [_crop_square(image, find_field(image), size) for image in images]


def test_field_mask_is_pils_min_filter_exactly(fundus_dir: Path) -> None:
    for square in _squares(fundus_dir):
        lit = square.convert("L").point(lambda v: 255 if v > FIELD_THRESHOLD else 0)
        expected = np.asarray(lit.filter(ImageFilter.MinFilter(3))) > 0
        assert np.array_equal(_field_mask(square), expected)


def _reference_ben_graham(square: Image.Image, inside: np.ndarray) -> np.ndarray:
    # The first implementation, kept as the specification: separate blurs of the masked field and the mask.
    sigma = square.width / 30
    mask = Image.fromarray(inside.astype(np.uint8) * 255)
    masked = Image.fromarray(np.where(inside[..., None], np.asarray(square), 0).astype(np.uint8))
    weight = np.asarray(mask.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32)[..., None] / 255
    local = np.asarray(masked.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / np.maximum(weight, 1e-3)
    detail = np.asarray(square, dtype=np.float32) - local
    spread = float(detail[inside].std())
    out = np.clip(128 + detail * (24.0 / max(spread, 1.0)), 0, 255).astype(np.uint8)
    out[~inside] = 128
    return out


def test_ben_graham_matches_its_reference_bit_for_bit(fundus_dir: Path) -> None:
    # The shipped model was trained on the reference's output: a faster version must not change a pixel.
    for square in _squares(fundus_dir):
        inside = _field_mask(square)
        assert np.array_equal(np.asarray(ben_graham(square, inside)), _reference_ben_graham(square, inside))
