"""Where the real public datasets live (../shared/data); tests skip clearly when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINDBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
DEMO_DATA = REPO / "demo-data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test saying which dataset is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset not available: {path} (set MINDBRIDGE_SHARED_DATA)")
    return path
