"""What the benchmarks share: the median wall time of a callable, after one warm-up run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(run: Callable[[], Any], repeats: int) -> float:
    run()  # warm-up: allocator, thread pool, lazy imports, database caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
