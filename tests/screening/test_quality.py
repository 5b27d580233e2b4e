"""The quality check on real fundus photographs (tiny copies) and on deliberately spoiled ones."""

from __future__ import annotations

import pytest
from PIL import Image, ImageEnhance, ImageFilter

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


def test_a_blank_frame_has_no_field_of_view() -> None:
    report = assess(Image.new("RGB", (300, 200), (0, 0, 0)))
    assert not report.gradable
    assert report.reasons[0].startswith("No fundus field of view found")


def test_the_check_does_not_depend_on_resolution() -> None:
    photo = _open(GOOD_PHOTOS[0])
    large = photo.resize((photo.width * 4, photo.height * 4), Image.Resampling.BICUBIC)
    assert assess(large).gradable
    assert not assess(_blurred(large)).gradable
