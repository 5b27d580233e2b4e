"""An examination's two eyes handled side by side. Decoding, checking and encoding a photograph happen in PIL
and numpy, which release the GIL: the two eyes of an examination run at once (bench/bench_grading.py times
each stage), on the upload's side and on the worker's."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_EYES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="eye")


def per_eye(function: Callable[[T], R], items: list[T]) -> list[R]:
    """function applied to each item (one per eye), two at a time, results in the items' order."""
    return list(_EYES.map(function, items))
