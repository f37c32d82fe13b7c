"""Fixtures for the edge tests (helpers live in `edge.world`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.world import Clinic, make_clinic, write_model


@pytest.fixture
def clinic() -> Clinic:
    """A fresh patient, device and clinic."""
    return make_clinic()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model folder exported by `models.export` with its card (SHA-256 pinned, unsigned)."""
    return write_model(tmp_path / "model")
