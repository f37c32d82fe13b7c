"""Fixtures for hub tests."""

from __future__ import annotations

import datetime as dt

import pytest
from hub_builders import NOW


@pytest.fixture
def now() -> dt.datetime:
    """The evaluation time used across hub tests."""
    return NOW
