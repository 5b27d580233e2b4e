"""A preprocessed uint8 image cache so epochs never decode JPEGs again."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ml.data import Sample
from ml.preprocess import UNREADABLE, as_rgb, open_for_preprocess, preprocess, preprocessing_key

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("ML_CACHE_DIR", Path(__file__).resolve().parent.parent / "var" / "ml-cache"))


def _load_one(args: tuple[str, int, bool, bool]) -> np.ndarray | None:
    path, size, ben, prepared = args
    try:
        if prepared:
            return _decode_prepared(path, size)
        return preprocess(open_for_preprocess(path, size), size, ben)[0]
    except UNREADABLE as error:
        log.warning("skipping unreadable image %s: %s", path, error)
        return None


def _decode_prepared(path: str, size: int) -> np.ndarray:
    with Image.open(path) as image:
        array = np.asarray(as_rgb(image), dtype=np.uint8)
    if array.shape != (size, size, 3):
        raise ValueError(f"exported image is {array.shape[1]}x{array.shape[0]}, not {size}x{size}")
    return array


def check_prepared(samples: Sequence[Sample], size: int, ben: bool) -> None:
    """Exported (already preprocessed) images are used only at the preprocessing they were written with."""
    wanted = preprocessing_key(size, ben)
    wrong = {s.prepared for s in samples if s.prepared and s.prepared != wanted}
    if wrong:
        raise ValueError(
            f"these images were exported preprocessed as {sorted(wrong)}, but {wanted!r} is needed: "
            "export them again at this size, or use the original photographs"
        )


def _key(samples: Sequence[Sample], size: int, ben: bool) -> str:
    digest = hashlib.sha256(preprocessing_key(size, ben).encode())
    for sample in samples:
        # The file's size and time too: a photograph replaced under the same name is decoded again.
        digest.update(f"{sample.path.resolve()}|{_stamp(sample.path)}".encode())
    return digest.hexdigest()[:16]


def _stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    return f"{stat.st_size}|{stat.st_mtime_ns}"


def load_images(
    samples: Sequence[Sample],
    size: int,
    ben: bool = True,
    cache_dir: Path | None = None,
    workers: int = 2,
    persist: bool = True,
) -> tuple[np.ndarray, list[Sample]]:
    """Preprocessed images (N x size x size x 3 uint8) and the samples that could be read, cached on disk."""
    check_prepared(samples, size, ben)
    cache_dir = cache_dir or default_cache_dir()
    key = _key(samples, size, ben)
    images_file, kept_file = cache_dir / f"{key}.npy", cache_dir / f"{key}.kept.npy"
    if persist and images_file.is_file() and kept_file.is_file():
        kept = np.load(kept_file)
        return np.load(images_file), [samples[i] for i in kept]
    jobs = [(str(s.path), size, ben, bool(s.prepared)) for s in samples]
    if workers > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(workers) as pool:
            arrays = list(tqdm(pool.map(_load_one, jobs, chunksize=32), total=len(jobs), desc="preprocess"))
    else:
        arrays = [_load_one(job) for job in tqdm(jobs, desc="preprocess", disable=len(jobs) < 64)]
    kept = [i for i, a in enumerate(arrays) if a is not None]
    images = np.stack([arrays[i] for i in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    if not persist:
        return images, [samples[i] for i in kept]
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(images_file, images)
    np.save(kept_file, np.asarray(kept, dtype=np.int64))
    return images, [samples[i] for i in kept]
