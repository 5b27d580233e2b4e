"""bench/load.py: each simulated upload is a new file with the photograph's own pixels."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from bench.load import DEFAULT_IMAGES, as_new_photograph, image_pairs


def test_each_upload_is_a_new_file_of_the_same_photograph() -> None:
    right, _ = image_pairs(DEFAULT_IMAGES)[0]
    original = right.read_bytes()
    first, second = as_new_photograph(original), as_new_photograph(original)
    digests = {hashlib.sha256(data).hexdigest() for data in (original, first, second)}
    assert len(digests) == 3  # what the clinic's already-filed check compares
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(first)) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_a_file_that_is_not_a_jpeg_is_left_alone() -> None:
    png = b"\x89PNG\r\n\x1a\n rest"
    assert as_new_photograph(png) == png
