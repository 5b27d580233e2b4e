"""The quality check on real fundus photographs (tiny copies) and on deliberately spoiled ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from screening.quality import assess

from .conftest import GOOD_PHOTOS


def _open(path) -> Image.Image:
    return Image.open(path).convert("RGB")


@pytest.mark.parametrize("path", GOOD_PHOTOS, ids=lambda p: p.name)
def test_real_photographs_are_gradable(path) -> None:
    report = assess(_open(path))
    assert report.gradable, report.reasons
    assert report.reasons == []
    assert set(report.measures) >= {"field_fraction", "circle_visible", "mean_brightness", "sharpness"}


def _blurred(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(image.width / 100))


def _dark(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(0.15)


def _overexposed(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(4.0)


def _cropped(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)).resize((w, h))


def _greyscale(image: Image.Image) -> Image.Image:
    return image.convert("L").convert("RGB")


def _red_free(image: Image.Image) -> Image.Image:
    # As some cameras store a red-free photograph: the green channel alone, in an RGB file.
    dark = Image.new("L", image.size, 0)
    return Image.merge("RGB", (dark, image.getchannel("G"), dark))


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_blurred, "Out of focus"),
        (_dark, "Underexposed"),
        (_overexposed, "Overexposed"),
        (_cropped, "Field of view cut off"),
        (_greyscale, "Not a colour photograph"),
        (_red_free, "Not a colour photograph"),
    ],
    ids=["blurred", "dark", "overexposed", "cropped", "greyscale", "red-free"],
)
@pytest.mark.parametrize("path", GOOD_PHOTOS, ids=lambda p: p.name)
def test_spoiled_photographs_are_ungradable_with_the_reason(path, spoil, reason: str) -> None:
    report = assess(spoil(_open(path)))
    assert not report.gradable
    assert any(r.startswith(reason) for r in report.reasons), report.reasons


def test_a_dark_frame_is_called_underexposed_not_greyscale() -> None:
    # A nearly black frame has no colour to measure: one reason, the one the operator can act on.
    report = assess(_dark(_dark(_open(GOOD_PHOTOS[0]))))
    assert not any(r.startswith("Not a colour photograph") for r in report.reasons), report.reasons


def test_a_blank_frame_has_no_field_of_view_and_is_no_fundus_photograph() -> None:
    report = assess(Image.new("RGB", (300, 200), (0, 0, 0)))
    assert not report.gradable
    assert report.not_fundus is not None and "no fundus field of view was found" in report.not_fundus
    assert report.reasons == [report.not_fundus]


def _noise(size: tuple[int, int], grey: bool = False) -> Image.Image:
    rng = np.random.default_rng(7)
    if grey:
        return Image.fromarray(np.clip(rng.normal(128, 40, size[::-1]), 0, 255).astype(np.uint8)).convert("RGB")
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _document(size: tuple[int, int] = (700, 1000)) -> Image.Image:
    """A printed page as a scanner gives it: dark lines of text on white."""
    page = Image.new("RGB", size, (250, 250, 248))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=22)
    for y in range(40, size[1] - 40, 34):
        draw.text((40, y), "Referral letter: patient seen in clinic, vision 6/9", fill=(20, 20, 20), font=font)
    return page


@pytest.mark.parametrize(
    ("picture", "why"),
    [
        (lambda: Image.new("RGB", (1024, 768), (255, 255, 255)), "plain frame"),
        (lambda: Image.new("RGB", (1024, 768), (0, 0, 0)), "no fundus field of view"),
        (lambda: Image.new("RGB", (1024, 768), (128, 128, 128)), "plain frame"),
        (lambda: Image.new("RGB", (120, 90), (255, 255, 255)), "plain frame"),  # however small
        (lambda: _noise((1024, 768)), "random noise"),
        (lambda: _noise((300, 300), grey=True), "random noise"),
        (lambda: _noise((3000, 2000)), "random noise"),
        (_document, "a page"),
    ],
    ids=["white", "black", "grey", "small-white", "noise", "grey-noise", "large-noise", "document"],
)
def test_a_picture_with_no_fundus_field_is_not_a_fundus_photograph(picture, why: str) -> None:
    report = assess(picture())
    assert not report.gradable
    assert report.not_fundus is not None and report.not_fundus.startswith("Not a fundus photograph")
    assert why in report.not_fundus
    assert "not_fundus" not in report.as_json()  # never stored: such a picture is refused, not filed


@pytest.mark.parametrize(
    "spoil",
    [_blurred, _dark, _overexposed, _cropped, _greyscale, _red_free, lambda image: _overexposed(_overexposed(image))],
    ids=["blurred", "dark", "overexposed", "cropped", "greyscale", "red-free", "washed-out"],
)
@pytest.mark.parametrize("path", GOOD_PHOTOS, ids=lambda p: p.name)
def test_a_fundus_photograph_of_poor_quality_is_still_a_fundus_photograph(path, spoil) -> None:
    # Filed and answered "retake", not refused: the field is there, only poorly taken.
    report = assess(spoil(_open(path)))
    assert not report.gradable and report.not_fundus is None, report.reasons


@pytest.mark.parametrize("path", GOOD_PHOTOS, ids=lambda p: p.name)
def test_real_photographs_are_fundus_photographs(path) -> None:
    assert assess(_open(path)).not_fundus is None


def test_the_check_does_not_depend_on_resolution() -> None:
    photo = _open(GOOD_PHOTOS[0])
    large = photo.resize((photo.width * 4, photo.height * 4), Image.Resampling.BICUBIC)
    assert assess(large).gradable
    assert not assess(_blurred(large)).gradable
