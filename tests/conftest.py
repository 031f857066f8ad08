"""Shared test settings. Fixtures of each area live in their own modules (tests/services_*.py)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"third-party test data expected at {SHARED_DATA}"
    return SHARED_DATA
