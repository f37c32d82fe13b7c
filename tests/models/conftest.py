"""The Depresjon daily feature table and subjects table, computed once per test session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mindbridge.pipeline import trailing_feature_table
from mindbridge.sources.base import ReadContext
from mindbridge.sources.ingest import ingest
from mindbridge.sources.store import Store
from shared_data import shared_path


@pytest.fixture(scope="session")
def depresjon_tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the features the risk model trains on, subjects table) of the real Depresjon data."""
    store = Store(tmp_path_factory.mktemp("depresjon-store"))
    ingest([Path(shared_path("depresjon", "data"))], ReadContext(), store)
    return trailing_feature_table(store), store.table("subjects")
