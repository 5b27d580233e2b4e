from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "fundus"


@pytest.fixture(scope="session")
def fundus_dir() -> Path:
    """Nine 96 px fundus photographs, all three classes, with a manifest (two share a patient id)."""
    return FIXTURES
