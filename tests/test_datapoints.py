"""The canonical series: construction checks, local time across DST, frames round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mindbridge.datapoints import SPECS, Kind, Series, SeriesError, check_timezone, utc_offsets


def _times(*iso: str) -> np.ndarray:
    return np.array(iso, dtype="datetime64[ns]")


def test_every_kind_has_a_spec_with_units_for_each_column() -> None:
    assert set(SPECS) == set(Kind)
    for kind, spec in SPECS.items():
        assert spec.columns, kind
        assert spec.primary in spec.columns


def test_local_time_follows_daylight_saving_in_oslo() -> None:
    # 00:30 UTC is 01:30 CET before the spring change and 03:30 CEST after it (2003-03-30 01:00 UTC).
    s = Series("s1", Kind.HEART_RATE, "watch", "Europe/Oslo", _times("2003-03-30T00:30", "2003-03-30T01:30"),
               {"value": np.array([60.0, 61.0])})
    local = s.local_time()
    assert str(local[0]) == "2003-03-30T01:30:00.000000000"
    assert str(local[1]) == "2003-03-30T03:30:00.000000000"


def test_fixed_offset_zone() -> None:
    s = Series("s1", Kind.HEART_RATE, "w", "-05:00", _times("2020-01-01T03:00"), {"value": np.array([70.0])})
    assert str(s.local_date()[0]) == "2019-12-31"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "+2", "GMT+25:00", ""])
def test_unknown_zone_is_refused(bad: str) -> None:
    with pytest.raises(SeriesError, match="time zone"):
        check_timezone(bad)


def test_inconsistent_parts_are_refused() -> None:
    t = _times("2020-01-01T00:00", "2020-01-01T00:01")
    with pytest.raises(SeriesError, match="2 times"):
        Series("s", Kind.HEART_RATE, "w", "UTC", t, {"value": np.array([1.0])})
    with pytest.raises(SeriesError, match="unknown columns"):
        Series("s", Kind.HEART_RATE, "w", "UTC", t, {"value": np.ones(2), "bogus": np.ones(2)})
    with pytest.raises(SeriesError, match="sorted"):
        Series("s", Kind.HEART_RATE, "w", "UTC", t[::-1], {"value": np.ones(2)})
    with pytest.raises(SeriesError, match="interval kind"):
        Series("s", Kind.STEPS, "w", "UTC", t, {"value": np.ones(2)})
    with pytest.raises(SeriesError, match="point kind"):
        Series("s", Kind.HEART_RATE, "w", "UTC", t, {"value": np.ones(2)}, end=t)
    with pytest.raises(SeriesError, match="datetime64"):
        Series("s", Kind.HEART_RATE, "w", "UTC", t.astype("datetime64[s]"), {"value": np.ones(2)})


@given(st.lists(st.integers(min_value=0, max_value=10**15), min_size=0, max_size=50),
       st.sampled_from(["UTC", "Europe/Oslo", "America/Los_Angeles", "+05:30"]))
def test_frame_round_trip(offsets_us: list[int], tz: str) -> None:
    t = np.sort(np.array(offsets_us, dtype="datetime64[us]").astype("datetime64[ns]"))
    s = Series("p", Kind.STEPS, "phone", tz, t, {"value": np.arange(len(t), dtype=float)},
               end=t + np.timedelta64(60, "s"))
    back = Series.from_frame(s.to_frame(), subject="p", kind=Kind.STEPS, source="phone", tz=tz)
    assert np.array_equal(back.time, s.time) and np.array_equal(back.end, s.end)  # type: ignore[arg-type]
    assert np.array_equal(back.values, s.values)
    expected = pd.DatetimeIndex(t, tz="UTC").tz_convert(tz).tz_localize(None).to_numpy()
    assert np.array_equal(s.local_time(), expected)


@given(st.lists(st.integers(10**9, 2**31), min_size=1, max_size=300),
       st.sampled_from(["Europe/Oslo", "Australia/Lord_Howe", "America/St_Johns", "America/New_York"]))
def test_utc_offsets_match_pandas(seconds: list[int], tz: str) -> None:
    t = np.array(sorted(seconds), dtype="datetime64[s]").astype("datetime64[ns]")
    ours = utc_offsets(t, tz)
    theirs = pd.DatetimeIndex(t, tz="UTC").tz_convert(tz)
    expected = (theirs.tz_localize(None) - pd.DatetimeIndex(t)).to_numpy(dtype="timedelta64[ns]")
    assert np.array_equal(ours, expected)
