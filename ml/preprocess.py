"""Fundus preprocessing: crop the black border, square the circular field, resize, normalise the camera away.

The same function serves training (through the cache) and inference (through the Predictor), so the
model always sees photographs prepared the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

log = logging.getLogger(__name__)

# Pixels darker than this (0-255 grey) are the black surround of the fundus camera's field.
FIELD_THRESHOLD = 15
PREPROCESS_VERSION = "crop-square-ben-v2"
# Standard deviation (grey levels) of the high-pass detail after normalisation.
TARGET_CONTRAST = 24.0


@dataclass(frozen=True)
class FieldBox:
    """The square around the circular field in the input image's pixel coordinates (may overhang the edges)."""

    left: float
    top: float
    side: float


@dataclass(frozen=True)
class FieldExtent:
    """The rows and columns a field spans in its mask's pixels: the first, and one past the last."""

    top: int
    bottom: int
    left: int
    right: int


def lit_field(grey: np.ndarray, level: float = FIELD_THRESHOLD, *, largest_region: bool = False) -> np.ndarray:
    """The fundus field of a grey image (0-255) as booleans: the pixels brighter than `level`.

    largest_region: only the largest connected lit region, its holes (dark lesions, the shadow of the disc
    rim) filled. For measuring the field itself (the upload's quality check); cropping needs only its extent.
    """
    mask = grey > level
    if not largest_region:
        return mask
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
    return ndimage.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))


def field_extent(mask: np.ndarray, min_lit: float = 0.0) -> FieldExtent | None:
    """Where the field lies: the rows and columns with more than `min_lit` of their pixels in it (None when
    there are none). A small `min_lit` keeps a few stray bright pixels (a label, a reflection) out."""
    rows = np.flatnonzero(mask.mean(axis=1) > min_lit)
    cols = np.flatnonzero(mask.mean(axis=0) > min_lit)
    if rows.size == 0 or cols.size == 0:
        return None
    return FieldExtent(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def find_field(image: Image.Image) -> FieldBox:
    """Locate the bright circular field on a reduced grey copy (cheap even for large photographs)."""
    factor = max(1, max(image.size) // 256)
    small = np.asarray((image.reduce(factor) if factor > 1 else image).convert("L"))
    extent = field_extent(lit_field(small), min_lit=0.02)
    if extent is None:
        return FieldBox(0.0, 0.0, float(max(image.size)))
    scale_x = image.width / small.shape[1]
    scale_y = image.height / small.shape[0]
    left, right = extent.left * scale_x, extent.right * scale_x
    top, bottom = extent.top * scale_y, extent.bottom * scale_y
    side = max(right - left, bottom - top)
    return FieldBox((left + right - side) / 2, (top + bottom - side) / 2, side)


def _crop_square(image: Image.Image, box: FieldBox, size: int) -> Image.Image:
    # Shrink the whole photograph first by an integer factor (a cheap box filter, as resize's own
    # reducing_gap would do), so the crop below copies a few hundred pixels a side, not a thousand.
    factor = max(1, int(box.side // (2 * size)))
    if factor > 1:
        image = image.reduce(factor)
        box = FieldBox(box.left / factor, box.top / factor, box.side / factor)
    # crop() pads with black where the square overhangs (fields cut at the top and bottom).
    bounds = (round(box.left), round(box.top), round(box.left + box.side), round(box.top + box.side))
    return image.crop(bounds).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _field_mask(square: Image.Image) -> np.ndarray:
    """The field as booleans, less a one-pixel erosion that drops its dim, noisy rim.

    The erosion is a 3x3 minimum with the edge pixels repeated: exactly PIL's MinFilter(3), at a tenth
    of its cost (a test compares the two).
    """
    lit = lit_field(np.asarray(square.convert("L")))
    padded = np.pad(lit, 1, mode="edge")
    height, width = lit.shape
    mask = lit.copy()
    for dy in range(3):
        for dx in range(3):
            mask &= padded[dy : dy + height, dx : dx + width]
    return mask


def ben_graham(square: Image.Image, inside: np.ndarray) -> Image.Image:
    """Subtract a Gaussian-blurred copy (Kaggle 2015 winner): keeps lesions and vessels, drops camera colour.

    Two changes to the original: the blur is normalised by the blurred field mask, so the black
    surround does not paint a bright ring at the rim; and the result is scaled to a fixed contrast,
    so the contrast-enhanced 256 px set and natural photographs end up alike.
    """
    sigma = square.width / 30
    mask = Image.fromarray(inside.astype(np.uint8) * 255)
    # The field's pixels and the mask blur together as one RGBA image: PIL blurs the four bands of an
    # RGBA image in the same pass (and the same time) as the three of an RGB one.
    layers = Image.composite(square, Image.new("RGB", square.size), mask)
    layers.putalpha(mask)
    blurred = np.asarray(layers.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32)
    weight = blurred[..., 3:] / 255
    local = blurred[..., :3] / np.maximum(weight, 1e-3)
    detail = np.asarray(square, dtype=np.float32) - local
    spread = float(detail[inside].std()) if inside.any() else 1.0
    out = np.clip(128 + detail * (TARGET_CONTRAST / max(spread, 1.0)), 0, 255).astype(np.uint8)
    out[~inside] = 128
    return Image.fromarray(out)


def preprocessing_key(size: int, ben: bool) -> str:
    """Names one preprocessing exactly: an exported image is reused only under the same key."""
    return f"{PREPROCESS_VERSION}|{size}|{'ben' if ben else 'plain'}"


# Greyscale PNGs of 16 bits per pixel decode to these modes; Pillow's convert("RGB") clips their values
# (0-65535) at 255 instead of scaling them, which turns the photograph white for the grader.
WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def grey_to_8_bits(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale image scaled to 8 bits (65535 -> 255, rounded), as every viewer shows it. The
    portal's upload check stores 16-bit photographs through it too, so both grade the same pixels."""
    # In place, in 32-bit integers: a 40-megapixel photograph takes 160 MB here, not 320 MB in floats.
    levels = np.array(image, dtype=np.uint32)
    np.clip(levels, 0, 65535, out=levels)
    levels *= 255
    levels += 32767
    levels //= 65535
    return Image.fromarray(levels.astype(np.uint8))  # 2-D uint8: mode L


def as_rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB, as a viewer shows it (16-bit greyscale scaled, not clipped white)."""
    if image.mode == "RGB":
        return image  # convert() would copy it
    if image.mode in WIDE_GREY_MODES:
        image = grey_to_8_bits(image)
    return image.convert("RGB")


def preprocess(image: Image.Image, size: int, ben: bool = True) -> tuple[np.ndarray, FieldBox]:
    """RGB uint8 array (size x size x 3) of the fundus field, and where that square lies in the input."""
    image = as_rgb(image)
    box = find_field(image)
    square = _crop_square(image, box, size)
    if ben:
        square = ben_graham(square, _field_mask(square))
    return np.asarray(square, dtype=np.uint8), box


# What PIL raises for a file it cannot decode: broken or not an image (the first three), or too large to
# decode safely (a decompression bomb).
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def read_photograph(path: str | Path) -> Image.Image | None:
    """The photograph at path as 8-bit RGB, or None (with a warning naming it) when it cannot be read."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy() if image.mode == "RGB" else as_rgb(image)  # a copy outlives the file
    except UNREADABLE as error:
        log.warning("skipping unreadable image %s: %s", path, error)
        return None


def open_for_preprocess(path: str, size: int) -> Image.Image:
    """Open an image, letting JPEG decode at a reduced scale when the target is much smaller (much faster)."""
    image = Image.open(path)
    if image.format == "JPEG":
        image.draft("RGB", (size * 2, size * 2))
    image.load()
    return image
