"""Local days for point series: merge a subject's series, group samples by day, shape the daily table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..datapoints import Series
from .base import Family, coverage_column, empty_daily


def pooled(series: Sequence[Series], column: str) -> tuple[np.ndarray, np.ndarray]:
    """Local wall-clock times and one column of all `series`, merged and sorted by local time."""
    if not series:
        return np.array([], dtype="datetime64[ns]"), np.array([])
    local = np.concatenate([s.local_time() for s in series])
    values = np.concatenate([np.asarray(s.columns[column]) for s in series])
    order = np.argsort(local, kind="stable")
    return local[order], values[order]


def day_codes(local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct local days (`datetime64[D]`) of `local` times and each sample's index among them."""
    days, codes = np.unique(local.astype("datetime64[D]"), return_inverse=True)
    return days, codes.reshape(-1)


def day_frame(family: Family, days: np.ndarray, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """A daily table in the family contract's shape: one row per day, features then the coverage column."""
    if len(days) == 0:
        return empty_daily(family)
    names = [f.name for f in family.features] + [coverage_column(family.name)]
    missing = set(names) - set(columns)
    if missing:
        raise KeyError(f"{family.name}: no values computed for {sorted(missing)}")
    index = pd.DatetimeIndex(np.asarray(days, dtype="datetime64[D]").astype("datetime64[ns]"), name="date")
    return pd.DataFrame({n: np.asarray(columns[n], dtype=float) for n in names}, index=index)
