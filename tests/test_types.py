"""The type checker passes on the whole tree, as pyproject.toml's [tool.mypy] configures it: the source
packages strictly, the tests and the benchmarks more loosely. Run from the test session, so that the
README's test command, which CI runs, checks the types too."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_mypy_finds_no_type_error() -> None:
    # In its own process: mypy's Django plugin sets Django up with its own settings. Its cache (.mypy_cache)
    # makes a run after a small change take seconds; a fresh clone's first run takes about a minute.
    checked = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=540, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
