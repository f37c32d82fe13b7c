"""Local wall-clock times to UTC: the per-run shortcut agrees with per-sample conversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.sources.timezones import localize

ZONES = ["Europe/Oslo", "America/Los_Angeles", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@settings(max_examples=60)
@given(st.lists(st.integers(0, 3 * 365 * 24 * 60), min_size=1, max_size=200), st.sampled_from(ZONES))
def test_matches_per_sample_conversion(minutes: list[int], tz: str) -> None:
    wall = np.datetime64("2019-01-01T00:00", "ns") + np.sort(np.array(minutes)).astype("timedelta64[m]")
    utc, unplaced = localize(wall, tz)
    expected = (pd.DatetimeIndex(wall).tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
                .tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]"))
    known = ~np.isnat(expected)
    assert np.array_equal(utc[known], expected[known])
    gap = pd.DatetimeIndex(wall).tz_localize(tz, ambiguous=np.ones(len(wall), bool), nonexistent="NaT").isna()
    assert np.array_equal(unplaced & gap, gap), "times in a spring gap are always reported"


def test_empty_and_missing() -> None:
    utc, unplaced = localize(np.array([], dtype="datetime64[ns]"), "Europe/Oslo")
    assert len(utc) == 0 and len(unplaced) == 0
    utc, unplaced = localize(np.array(["NaT", "2020-06-01T12:00"], dtype="datetime64[ns]"), "Europe/Oslo")
    assert np.isnat(utc[0]) and not unplaced[0]
    assert str(utc[1]) == "2020-06-01T10:00:00.000000000"
