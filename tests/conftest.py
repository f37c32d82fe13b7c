"""Shared fixtures: the real public datasets under ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from medplum_server import fhir_server, schema  # noqa: F401  (session fixtures shared by every folder)
from shared_data import shared_path


@pytest.fixture
def depresjon_dir() -> Path:
    """The Depresjon data folder (condition/, control/, scores.csv)."""
    return shared_path("depresjon", "data")


@pytest.fixture
def openmhealth_dir() -> Path:
    """The Open mHealth schemas and conformance test data."""
    return shared_path("openmhealth")


@pytest.fixture
def globem_dir() -> Path:
    """The GLOBEM sample (INS-W-sample_1..4)."""
    return shared_path("globem_sample")
