from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ml.data import load_dataset
from ml.preprocess import (
    FIELD_THRESHOLD,
    FieldExtent,
    _crop_square,
    _field_mask,
    ben_graham,
    field_extent,
    find_field,
    lit_field,
)


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


def test_the_largest_lit_region_is_the_field_with_its_holes_filled() -> None:
    grey = np.zeros((40, 40))
    grey[5:30, 5:30] = 100
    grey[10:15, 10:15] = 0  # a dark lesion inside the field
    grey[35:38, 35:38] = 200  # a reflection outside it
    assert lit_field(grey)[36, 36] and not lit_field(grey)[12, 12]
    field = lit_field(grey, largest_region=True)
    assert field[12, 12] and not field[36, 36]
    assert int(field.sum()) == 25 * 25


def test_the_extent_leaves_out_lines_with_too_few_lit_pixels() -> None:
    mask = np.zeros((100, 100), dtype=bool)
    mask[20:80, 10:90] = True
    mask[95, 0] = True  # one stray pixel: 1% of its row and column
    assert field_extent(mask) == FieldExtent(top=20, bottom=96, left=0, right=90)
    assert field_extent(mask, min_lit=0.02) == FieldExtent(top=20, bottom=80, left=10, right=90)
    assert field_extent(np.zeros((10, 10), dtype=bool)) is None
