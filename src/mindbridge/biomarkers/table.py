"""One subject's daily feature table: every family's features joined on the local day."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..datapoints import Series
from .base import Family, coverage_column
from .registry import FAMILIES


def daily_table(series: Sequence[Series], families: Sequence[Family] | None = None) -> pd.DataFrame:
    """Run every family that has input among `series` and join the results on the local day.

    Rows are the union of days any family produced; a family with no data that day leaves its columns
    NaN and its coverage 0. All series must belong to one subject.
    """
    subjects = {s.subject for s in series}
    if len(subjects) > 1:
        raise ValueError(f"daily_table takes one subject's series, got {sorted(subjects)}")
    parts = []
    for family in families if families is not None else FAMILIES:
        mine = [s for s in series if s.kind in family.kinds and len(s)]
        if mine:
            parts.append(family.daily(mine))
    if not parts:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="date"))
    table = pd.concat(parts, axis=1, join="outer").sort_index()
    for col in table.columns:
        if col.startswith(coverage_column("")):
            table[col] = table[col].fillna(0.0)
    table.index.name = "date"
    table.insert(0, "subject", next(iter(subjects)))
    return table
