"""bench/load.py: each simulated upload is a new photograph, of nearly the fixture's own pixels."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bench.load import DEFAULT_IMAGES, as_new_photograph, image_pairs
from screening.validation import pixel_sha256


def test_each_upload_is_a_new_photograph_of_nearly_the_same_pixels() -> None:
    right, _ = image_pairs(DEFAULT_IMAGES)[0]
    original = right.read_bytes()
    copies = [as_new_photograph(original), as_new_photograph(original)]
    pictures = [Image.open(io.BytesIO(data)) for data in (original, *copies)]
    # New pixels each time: what the clinic's already-filed check compares.
    assert len({pixel_sha256(picture) for picture in pictures}) == 3
    first, copy = (np.asarray(picture.convert("RGB"), dtype=np.int16) for picture in pictures[:2])
    # Beside the patch in the corner, the fixture's own pixels, up to JPEG's re-encoding.
    assert first.shape == copy.shape and np.abs(first - copy)[16:, 16:].mean() < 1.0


def test_a_file_that_is_not_a_jpeg_is_left_alone() -> None:
    png = b"\x89PNG\r\n\x1a\n rest"
    assert as_new_photograph(png) == png
