from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter allocates a 16 MiB tensor (an activation's size in a training step) and frees it,
# reading glibc's own accounting (mallinfo2) around it; with `keep` it first calls keep_freed_memory.
PROBE = """
import ctypes, json, sys, torch
from ml.runtime import keep_freed_memory

class Info(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
applied = keep_freed_memory() if sys.argv[1:] == ["keep"] else None
before = libc.mallinfo2()
block = torch.ones(16 << 20, dtype=torch.uint8)
during = libc.mallinfo2()
del block
after = libc.mallinfo2()
print(json.dumps({"applied": applied, "own_mapping": during.hblkhd - before.hblkhd, "heap_free": after.fordblks}))
"""


def _probe(*args: str) -> dict:
    command = [sys.executable, "-c", PROBE, *args]
    return json.loads(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_freed_activation_stays_in_the_heap_once_memory_is_kept() -> None:
    default, kept = _probe(), _probe("keep")
    # glibc's default: the block gets a mapping of its own, unmapped (and faulted in again next time) when freed.
    assert default["own_mapping"] >= 16 << 20
    assert kept["applied"] is True
    assert kept["own_mapping"] == 0
    assert kept["heap_free"] >= 16 << 20  # freed, and still the process's to reuse
