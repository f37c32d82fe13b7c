"""Training's features are the device's: each day over its trailing window, reading no later minute."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge.world import depresjon_series
from mindbridge.biomarkers.table import daily_table
from mindbridge.biomarkers.trailing import COLUMNS, TRAILING_DAYS, newest_day, trailing_table
from mindbridge.datapoints import Kind, Series


def until(series: Series, day: pd.Timestamp) -> Series:
    """The recording cut after local day `day`."""
    return series.take(series.local_date() <= day.to_datetime64().astype("datetime64[D]"))


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal values, NaN where NaN."""
    x, y = a.to_numpy(float), b.to_numpy(float)
    return x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True))


@pytest.mark.parametrize("name", ["condition_3", "control_6"])
def test_a_day_reads_no_later_minute(depresjon_dir: Path, name: str) -> None:
    series = depresjon_series(depresjon_dir, name)
    whole = trailing_table(series).set_index("date")
    assert list(whole.columns) == ["subject", *COLUMNS] and (whole["subject"] == name).all()
    cuts = whole.index[[2, 6, 10]]
    for cut in cuts:
        early = trailing_table(until(series, cut)).set_index("date")
        assert same(early[list(COLUMNS)], whole.loc[:cut, list(COLUMNS)]), cut
    # the batch pipeline over the whole recording does read later minutes (non-wear level, midnight pairs)
    batch = daily_table([series])
    changed = [cut for cut in cuts
               if not same(daily_table([until(series, cut)])[
                   ["activity_lag1_autocorrelation"]], batch.loc[:cut, ["activity_lag1_autocorrelation"]])]
    assert changed


def test_each_row_is_newest_day_over_its_window(depresjon_dir: Path) -> None:
    series = depresjon_series(depresjon_dir, "condition_3")
    table = trailing_table(series, window_days=TRAILING_DAYS)
    counts = np.full((len(table), 1440), np.nan)
    local = series.local_time()
    day = (local.astype("datetime64[D]") - local[0].astype("datetime64[D]")).astype(int)
    minute = ((local - local.astype("datetime64[D]")) // np.timedelta64(60, "s")).astype(int)
    counts[day, minute] = series.columns["value"]
    first = table["date"].iloc[0].date()
    for k in range(len(table)):  # the first days' short windows, then full ones
        start = max(0, k - TRAILING_DAYS + 1)
        expected = newest_day(counts[start:k + 1], first + dt.timedelta(days=start), series.source)
        assert np.array_equal(table.loc[k, list(COLUMNS)].to_numpy(float), np.array(list(expected.values())),
                              equal_nan=True)


def test_other_kinds_and_epochs_are_refused_by_subject() -> None:
    times = np.datetime64("2024-03-01T00:00", "ns") + np.arange(100) * np.timedelta64(30, "s")
    pulse = Series("s1", Kind.HEART_RATE, "watch", "UTC", times, {"value": np.full(100, 60.0)})
    with pytest.raises(ValueError, match="s1: minute activity counts expected"):
        trailing_table(pulse)
    half_minutes = Series("s2", Kind.ACTIVITY_COUNTS, "x", "UTC", times, {"value": np.ones(100)})
    with pytest.raises(ValueError, match="s2: epochs of 30 s, 60 s expected"):
        trailing_table(half_minutes)
