"""Stage glue on the device side: stored series → per-subject daily feature tables on disk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .biomarkers.epochs import main_activity
from .biomarkers.table import daily_table
from .biomarkers.trailing import trailing_table
from .datapoints import Kind, Series
from .sources.store import Store


@dataclass(frozen=True)
class FeatureFiles:
    """Where the daily feature table was written."""

    parquet: Path
    csv: Path
    subjects: int
    days: int


def series_by_subject(store: Store) -> dict[str, list[Series]]:
    """Every stored series, grouped by subject."""
    grouped: dict[str, list[Series]] = defaultdict(list)
    for s in store.series():
        grouped[s.subject].append(s)
    return dict(grouped)


def _stacked(store: Store, build: Callable[[list[Series]], pd.DataFrame],
             on_subject: Callable[[str], None] | None) -> pd.DataFrame:
    parts = []
    for subject, series in sorted(series_by_subject(store).items()):
        table = build(series)
        if len(table):
            parts.append(table)
        if on_subject is not None:
            on_subject(subject)
    if not parts:
        return pd.DataFrame(columns=["subject", "date"])
    return pd.concat(parts, ignore_index=True)


def feature_table(store: Store, on_subject: Callable[[str], None] | None = None) -> pd.DataFrame:
    """All subjects' daily feature tables stacked: one row per (subject, local day)."""
    return _stacked(store, lambda series: daily_table(series).reset_index(), on_subject)


def trailing_feature_table(store: Store, on_subject: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Every subject's actigraphy features as a device computes them on each day (`biomarkers.trailing`, the
    day over its trailing window, no later minute read), stacked: what the risk model trains on. Subjects
    without minute activity counts have no rows."""
    def build(series: list[Series]) -> pd.DataFrame:
        counts = [s for s in series if s.kind is Kind.ACTIVITY_COUNTS and len(s)]
        return trailing_table(main_activity(counts)) if counts else pd.DataFrame()

    return _stacked(store, build, on_subject)


def write_features(table: pd.DataFrame, out: Path) -> FeatureFiles:
    """Write the stacked table as Parquet and CSV under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    parquet, csv = out / "daily_features.parquet", out / "daily_features.csv"
    table.to_parquet(parquet, index=False)
    table.to_csv(csv, index=False, date_format="%Y-%m-%d")
    return FeatureFiles(parquet, csv, table["subject"].nunique(), len(table))
