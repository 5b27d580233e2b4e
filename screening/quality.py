"""Automatic image-quality check of a fundus photograph, run right after upload.

Autonomous screening systems refuse to grade a photograph they cannot read and ask for a retake; this
module does the same with four families of measures, taken on a copy reduced to a fixed field size so
the thresholds do not depend on the camera's resolution:

* field of view: the circular, lit part of the frame; it must be found and mostly inside the frame;
* exposure: mean brightness inside the field and the fractions of crushed and clipped pixels;
* colour: a greyscale or red-free photograph is not what the model reads;
* focus: how much fine detail (finer than ~1 px at 256 px) the green channel holds inside the field,
  relative to its mid-scale detail (1-4 px): blur removes the first long before the second, and the
  ratio does not depend on brightness or contrast. The Laplacian's variance separated real from
  blurred photographs less well on our data (noise in dim photographs inflates it).

The thresholds and how they were chosen are documented in docs/screening.md; tests check them on real
photographs and on deliberately spoiled copies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from ml.preprocess import field_extent, lit_field

# The field is measured on a copy whose longer side is this many pixels.
WORKING_SIZE = 256
# A photograph smaller than this across (its longer side) has lost the detail grading needs: a
# microaneurysm spans about 1/100 of the field, 2-3 px at 256 px. The grading model reads 256 px too.
# The thresholds below were set at 256 px and say nothing about smaller images: they called real
# photographs shrunk to 16 px "gradable" (29 of 30).
MIN_LONGER_SIDE = 256
# A pixel belongs to the field (ml.preprocess.lit_field, the finder preprocessing uses with a fixed level)
# when brighter than this fraction of the frame's bright end (robust to exposure, unlike a fixed grey level)
# and at least FIELD_MIN_LEVEL.
FIELD_RELATIVE_LEVEL = 0.12
FIELD_MIN_LEVEL = 3
# The field must cover at least this fraction of the frame...
MIN_FIELD_FRACTION = 0.2
# ... and at least this fraction of its fitted circle must lie inside the frame and be lit.
MIN_CIRCLE_VISIBLE = 0.8
# A field running into both the left and right edges on this fraction of rows has no border: cropped.
MAX_EDGE_ROWS = 0.25
# Exposure inside the field, grey levels 0-255 (ITU-R 601 luma).
MIN_MEAN_BRIGHTNESS = 30.0
MAX_MEAN_BRIGHTNESS = 210.0
MAX_CLIPPED_FRACTION = 0.05  # pixels at 250 or above
MAX_DARK_FRACTION = 0.50  # pixels below 15
# Focus: fine / mid-scale detail of the green channel (Gaussian sigmas 1 and 4 px at WORKING_SIZE).
MIN_SHARPNESS = 0.245
# Colour: the model grades colour photographs. A greyscale (red-free) photograph has no spread between
# its channels (mean max-min over the field: 0-1 after JPEG); the least colourful well-exposed real
# photograph in ../shared/data has 6.2. A red-free photograph stored as RGB with only the green channel
# lit has colour, but almost no red: red's share of the field's light is 0.33-0.78 in real photographs.
MIN_CHROMA = 3.0
MIN_RED_SHARE = 0.15
# Not a fundus photograph at all (refused at upload, never filed; see docs/screening.md for the figures, measured
# on 300 real photographs of each set in ../shared/data and on spoiled copies):
# * inside the field the grey level varies by less than this (standard deviation): a plain frame of one
#   colour. The flattest real photograph (a very dark one) has 3.2; plain white, black or grey 0.
MIN_FIELD_SPREAD = 1.0
# * lit to all four corners (no dark surround round a circular field: real photographs have at most 27% of
#   their corner patches lit) and either
#   - fine detail more than this many times the mid-scale detail (the focus measure, above): random noise
#     (2.0-3.4 at any size), where real photographs reach 1.1 at most (the noisiest, a very dark one);
#   - or no colour (chroma below MIN_CHROMA): a page, a scan, a grey frame; a fundus photograph cut to its
#     centre (lit to its corners too) keeps its colour (chroma 6.5 at the least).
MAX_SHARPNESS = 1.6
CORNER_PATCH = 0.08  # of the shorter side
MAX_CORNERS_LIT = 0.9
NOT_FUNDUS = "Not a fundus photograph"
NOT_COLOUR = (
    "Not a colour photograph (greyscale or red-free): the grading model reads colour fundus photographs; "
    "take a colour photograph."
)


@dataclass(frozen=True)
class QualityReport:
    gradable: bool
    reasons: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)
    # Why the picture is not a fundus photograph at all (refused at upload), or None for one that is, even
    # of poor quality (filed, answered "retake"). Never stored: a refused photograph is not kept.
    not_fundus: str | None = None

    def as_json(self) -> dict[str, object]:
        stored = asdict(self)
        del stored["not_fundus"]
        return stored


def _working_copy(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    scale = WORKING_SIZE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return image


def _field_mask(grey: np.ndarray) -> np.ndarray:
    level = max(FIELD_MIN_LEVEL, FIELD_RELATIVE_LEVEL * float(np.percentile(grey, 99)))
    return lit_field(grey, level, largest_region=True)


def _circle_visible(mask: np.ndarray) -> float:
    """Fraction of the field's circle that is lit inside the frame. The circle is fitted to the field's
    widest extent, since fundus cameras often cut the top and bottom of the circle but rarely the sides."""
    extent = field_extent(mask)
    if extent is None:
        return 0.0
    radius = max(extent.right - extent.left, extent.bottom - extent.top) / 2
    # The centre in pixel-centre coordinates: the extent's bounds are pixel edges.
    cy, cx = (extent.top + extent.bottom - 1) / 2, (extent.left + extent.right - 1) / 2
    yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
    inside_frame = ((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2
    circle_area = np.pi * radius**2
    return float((mask & inside_frame).sum() / circle_area)


def assess(image: Image.Image) -> QualityReport:
    """Measure a fundus photograph and say whether it can be graded, and if not, why (plain words); a
    picture with no fundus field at all also says so in `not_fundus` (the upload refuses it)."""
    small = _working_copy(image)
    grey = np.asarray(small.convert("L"), dtype=np.float32)
    mask = _field_mask(grey)
    field_fraction = float(mask.mean())
    measures: dict[str, float] = {"field_fraction": round(field_fraction, 4)}
    # A blank frame is no photograph at any size; the other measures were set at WORKING_SIZE.
    blank = _blank(grey, mask, measures)
    if blank is not None:
        return QualityReport(False, [blank], measures, not_fundus=blank)
    longer = max(image.size)
    if longer < MIN_LONGER_SIDE:
        reason = (
            f"Resolution too low: the photograph is {image.width} x {image.height} pixels; at least "
            f"{MIN_LONGER_SIDE} across are needed to see small lesions."
        )
        return QualityReport(False, [reason], {**measures, "longer_side": float(longer)})

    reasons: list[str] = []
    visible = _circle_visible(mask)
    edge_rows = float((mask[:, 0] & mask[:, -1]).mean())
    measures.update(circle_visible=round(visible, 4), edge_rows=round(edge_rows, 4))
    if visible < MIN_CIRCLE_VISIBLE or edge_rows > MAX_EDGE_ROWS:
        reasons.append("Field of view cut off: the circular retinal field is not wholly in the frame.")

    inside = grey[ndimage.binary_erosion(mask, iterations=2)]
    if inside.size == 0:
        inside = grey[mask]
    mean = float(inside.mean())
    clipped = float((inside >= 250).mean())
    dark = float((inside < 15).mean())
    measures.update(mean_brightness=round(mean, 2), clipped_fraction=round(clipped, 4), dark_fraction=round(dark, 4))
    if mean < MIN_MEAN_BRIGHTNESS or dark > MAX_DARK_FRACTION:
        reasons.append("Underexposed: the retina is too dark to see lesions.")
    if mean > MAX_MEAN_BRIGHTNESS or clipped > MAX_CLIPPED_FRACTION:
        reasons.append("Overexposed: large parts of the retina are washed out.")
    if mean >= MIN_MEAN_BRIGHTNESS and _not_colour(np.asarray(small), mask, measures):
        # Only where the retina is lit enough: a nearly black frame has no colour to measure either.
        reasons.append(NOT_COLOUR)

    sharpness = _sharpness(np.asarray(small.getchannel("G"), dtype=np.float32), mask)
    measures["sharpness"] = round(sharpness, 4)
    if sharpness < MIN_SHARPNESS:
        reasons.append("Out of focus: vessels and small lesions are blurred.")
    not_fundus = _no_fundus_field(mask, sharpness, measures)
    if not_fundus is not None:
        return QualityReport(False, [not_fundus], measures, not_fundus=not_fundus)
    return QualityReport(not reasons, reasons, measures)


def _blank(grey: np.ndarray, mask: np.ndarray, measures: dict[str, float]) -> str | None:
    """Why the frame is blank (no lit field, or one of a single grey level), or None."""
    if float(mask.mean()) < MIN_FIELD_FRACTION:
        return (
            f"{NOT_FUNDUS}: no fundus field of view was found (a blank or nearly black frame, or another kind of "
            "picture). Take a photograph of the retina."
        )
    spread = float(grey[mask].std())
    measures["field_spread"] = round(spread, 2)
    if spread < MIN_FIELD_SPREAD:
        return (
            f"{NOT_FUNDUS}: the picture is a plain frame of one colour, with no retina in it. Take a photograph of "
            "the retina."
        )
    return None


def _no_fundus_field(mask: np.ndarray, sharpness: float, measures: dict[str, float]) -> str | None:
    """Why a picture with a lit, varied field is still no fundus photograph, or None: lit to its corners (no
    dark surround round a circular field) and either random noise or colourless (a page, a grey frame).
    `measures` holds the exposure and colour figures by now (colour unless underexposed)."""
    k = max(2, round(min(mask.shape) * CORNER_PATCH))
    corners = float(np.mean([mask[:k, :k].mean(), mask[:k, -k:].mean(), mask[-k:, :k].mean(), mask[-k:, -k:].mean()]))
    measures["corners_lit"] = round(corners, 4)
    if corners <= MAX_CORNERS_LIT:
        # A field with a dark surround: a fundus photograph, however poor (a dithered palette PNG of one has
        # the fine detail of noise, 2.4, but keeps its dark corners).
        return None
    # Not where the retina is washed out: clipping and the sensor noise of a grossly overexposed photograph
    # (4 times too bright, its surround lit) read as fine detail too (1.6-1.8); it answers "retake".
    if sharpness > MAX_SHARPNESS and measures["clipped_fraction"] <= MAX_CLIPPED_FRACTION:
        return f"{NOT_FUNDUS}: the picture is random noise, with no retina in it. Take a photograph of the retina."
    if measures.get("chroma", MIN_CHROMA) < MIN_CHROMA:
        return (
            f"{NOT_FUNDUS}: a colourless picture lit to its corners, with no circular retinal field (a page, a "
            "scan, a grey frame). Take a photograph of the retina."
        )
    return None


def _not_colour(rgb: np.ndarray, mask: np.ndarray, measures: dict[str, float]) -> bool:
    """True for a greyscale or a green-only (red-free) photograph; rgb is the working copy (H x W x 3 uint8).

    On whole channels in integers: a float copy of the field's pixels and numpy's reductions across their
    three values cost about 4 ms a photograph, this a tenth of that, with the same figures."""
    red, green, blue = (rgb[..., channel][mask].astype(np.int32) for channel in range(3))
    spread = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    chroma = float(spread.sum() / max(spread.size, 1))
    totals = [int(channel.sum()) for channel in (red, green, blue)]
    red_share = totals[0] / max(float(sum(totals)), 1.0)
    measures.update(chroma=round(chroma, 2), red_share=round(red_share, 4))
    return chroma < MIN_CHROMA or red_share < MIN_RED_SHARE


def _sharpness(green: np.ndarray, mask: np.ndarray) -> float:
    # The eroded mask keeps the strong edge of the field itself out of the measure.
    core = ndimage.binary_erosion(mask, iterations=6)
    if not core.any():
        core = mask
    fine_blur = ndimage.gaussian_filter(green, 1.0)
    mid_blur = ndimage.gaussian_filter(green, 4.0)
    fine = float((green - fine_blur)[core].std())
    mid = float((fine_blur - mid_blur)[core].std())
    return fine / max(mid, 1e-3)
