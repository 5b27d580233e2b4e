"""Process-wide settings for running models on the CPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Raise the mmap threshold (glibc applies what it allows) and let the heap keep freed memory; mallopt
# takes an int. Measured (tests/ml/test_runtime.py): blocks of a few MiB, most of a step's activations,
# are then reused without page faults; blocks of 64 MiB and more are still mapped and unmapped each time.
KEPT_BYTES = 1 << 30
TRIM_BYTES = (1 << 31) - 1


def keep_freed_memory() -> bool:
    """Make glibc reuse freed activation memory instead of handing it back to the kernel; True if applied.

    By default glibc serves a block over 128 KiB with its own mmap and unmaps it when freed (its threshold
    adapts upwards only after such frees, and the heap's free top is trimmed back to the kernel). A training
    step allocates and frees hundreds of activation tensors of a few MiB, so each is page-faulted in again,
    zeroed by the kernel: on this project's 2-core machine a third of the CPU
    time went to the kernel and a batch-32 step of the shipped model took 12.7 s instead of 4.9 s
    (bench/bench_allocator.py prints the figure). Raising both thresholds keeps the freed pages mapped for
    the next step. The price is that a process keeps its peak memory, which a training run or a worker
    that grades the same shapes again and again reaches anyway. Not glibc (macOS, musl): nothing to do.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    results = [mallopt(M_MMAP_THRESHOLD, KEPT_BYTES), mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)]
    applied = results == [1, 1]
    if not applied:
        log.warning("mallopt refused the allocator thresholds: freed memory goes back to the kernel")
    return applied
