"""Cardiac: resting and sleep heart rate on built signals, HRV with artefact rejection against plain formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.cardiac import Cardiac, accepted_rr, merge_intervals
from mindbridge.datapoints import Kind, Series

DAY = np.datetime64("2024-05-02T00:00", "ns")
MIN = np.timedelta64(60, "s")


def _hr(minutes: np.ndarray, bpm: np.ndarray, tz: str = "UTC", start: np.datetime64 = DAY) -> Series:
    """Heart rate sampled twice a minute at the given minute offsets from `start`."""
    t = start + np.repeat(minutes, 2) * MIN + np.tile([0, 30], len(minutes)) * np.timedelta64(1, "s")
    return Series("c1", Kind.HEART_RATE, "watch", tz, t.astype("datetime64[ns]"),
                  {"value": np.repeat(np.asarray(bpm, float), 2)})


def _rr(rr_ms: np.ndarray, times_ms: np.ndarray | None = None) -> Series:
    t = DAY + 10 * 60 * MIN + (np.cumsum(rr_ms) if times_ms is None else times_ms).astype("timedelta64[ms]")
    return Series("c1", Kind.RR_INTERVAL, "strap", "UTC", t.astype("datetime64[ns]"), {"value": np.asarray(rr_ms)})


def _sleep(kind: Kind, spans: list[tuple[str, str, str]]) -> Series:
    start = np.array([a for a, _, _ in spans], "datetime64[ns]")
    end = np.array([b for _, b, _ in spans], "datetime64[ns]")
    cols = ({"stage": np.array([c for _, _, c in spans])} if kind is Kind.SLEEP_STAGE
            else {"value": ((end - start) / MIN).astype(float)})
    return Series("c1", kind, "watch", "UTC", start, cols, end=end)


def test_resting_hr_is_the_lowest_full_five_minute_mean() -> None:
    minutes = np.arange(1440)
    bpm = np.full(1440, 70.0)
    bpm[180:189] = 50.0          # a nine-minute dip at 03:00
    bpm[720] = 30.0              # one low minute: every 5-minute window holding it averages 62
    day = Cardiac().daily([_hr(minutes, bpm)])
    assert day["resting_hr"].iloc[0] == pytest.approx(50.0)
    assert day["hr_mean"].iloc[0] == pytest.approx(bpm.mean())
    assert day[coverage_column("cardiac")].iloc[0] == pytest.approx(1.0)
    # Remove minute 184 of the dip: no 5 consecutive sampled minutes are all at 50 any more.
    gappy = np.delete(minutes, 184)
    day = Cardiac().daily([_hr(gappy, bpm[gappy])])
    assert day["resting_hr"].iloc[0] == pytest.approx((50 * 4 + 70) / 5)
    assert day[coverage_column("cardiac")].iloc[0] == pytest.approx(1439 / 1440)


def test_resting_window_never_crosses_midnight() -> None:
    minutes = np.r_[1437:1443]  # 23:57-00:02 across two days, 3 and 3 minutes
    day = Cardiac().daily([_hr(minutes, np.full(len(minutes), 60.0))])
    assert len(day) == 2 and day["resting_hr"].isna().all()
    assert day["hr_mean"].tolist() == [60.0, 60.0]


def _night_signal() -> Series:
    """Two days: heart rate 80, except 55 from 01:00 to 09:00 on the second day."""
    minutes = np.arange(2 * 1440)
    bpm = np.where((minutes >= 1440 + 60) & (minutes < 1440 + 540), 55.0, 80.0)
    return _hr(minutes, bpm)


def test_sleep_hr_uses_the_recorded_main_sleep_period() -> None:
    episodes = _sleep(Kind.SLEEP_EPISODE, [("2024-05-03T01:00", "2024-05-03T09:00", ""),
                                           ("2024-05-03T14:00", "2024-05-03T14:30", "")])  # a nap, shorter
    day = Cardiac().daily([_night_signal(), episodes])
    assert day["sleep_hr"].iloc[1] == pytest.approx(55.0)
    assert day["sleep_hr"].iloc[0] == pytest.approx(80.0)  # no record that day: 00:00-06:00 fallback


def test_sleep_stages_merge_across_brief_wakes() -> None:
    stages = _sleep(Kind.SLEEP_STAGE, [("2024-05-03T01:00", "2024-05-03T04:00", "light"),
                                       ("2024-05-03T04:00", "2024-05-03T04:10", "awake"),
                                       ("2024-05-03T04:10", "2024-05-03T09:00", "deep")])
    lo, hi = merge_intervals(np.array([0, 50, 200]), np.array([40, 100, 300]), 10)
    assert lo.tolist() == [0, 200] and hi.tolist() == [100, 300]
    day = Cardiac().daily([_night_signal(), stages])
    assert day["sleep_hr"].iloc[1] == pytest.approx(55.0)


def test_night_fallback_and_sparse_sleep_window() -> None:
    day = Cardiac().daily([_night_signal()])
    assert day["sleep_hr"].iloc[1] == pytest.approx((60 * 80 + 300 * 55) / 360)
    sparse = _hr(np.arange(0, 360, 3), np.full(120, 60.0))  # a third of the night's minutes
    assert np.isnan(Cardiac().daily([sparse])["sleep_hr"].iloc[0])
    assert Cardiac(min_sleep_coverage=0.3).daily([sparse])["sleep_hr"].iloc[0] == pytest.approx(60.0)


def test_hrv_known_answer_with_artefacts() -> None:
    rr = np.tile([800.0, 900.0], 50)
    rr[40] = 3000.0  # outside physiological bounds
    rr[70] = 400.0   # premature beat: more than 20 % off the local median
    day = Cardiac().daily([_rr(rr)])
    ok = np.ones(100, bool)
    ok[[40, 70]] = False
    clean = rr[ok]
    pair = ok[1:] & ok[:-1]
    diffs = np.diff(rr)[pair]
    assert day["rr_rejected_fraction"].iloc[0] == pytest.approx(0.02)
    assert day["hrv_sdnn"].iloc[0] == pytest.approx(np.std(clean, ddof=1))
    assert day["hrv_rmssd"].iloc[0] == pytest.approx(100.0)
    assert day["hrv_rmssd"].iloc[0] == pytest.approx(np.sqrt(np.mean(diffs**2)))
    assert day["hrv_pnn50"].iloc[0] == pytest.approx(100.0)
    assert np.isnan(day["resting_hr"].iloc[0])  # RR alone gives no heart-rate series


def test_lost_beat_breaks_the_successive_pair() -> None:
    rr = np.array([800.0, 850.0, 800.0, 850.0])
    times = np.array([800.0, 1650.0, 3250.0, 4100.0])  # 800 ms of the stream missing before beat 3
    ok, pairs = accepted_rr(rr, (times * 1e6).astype(np.int64))
    assert ok.all()
    assert pairs.tolist() == [False, True, False, True]
    assert pd.isna(Cardiac().daily([_rr(np.array([900.0]))])["hrv_rmssd"].iloc[0])


def test_nan_heart_rate_is_ignored_and_empty_input_is_shaped() -> None:
    s = _hr(np.arange(10), np.r_[np.full(9, 60.0), np.nan])
    assert Cardiac().daily([s])["hr_mean"].iloc[0] == pytest.approx(60.0)
    sleep_only = _sleep(Kind.SLEEP_EPISODE, [("2024-05-03T01:00", "2024-05-03T09:00", "")])
    day = Cardiac().daily([sleep_only])
    assert day.empty and "hrv_rmssd" in day.columns


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(700, 1100), min_size=3, max_size=300), st.floats(0.8, 1.2))
def test_scaling_rr_scales_rmssd_and_sdnn(rr: list[float], c: float) -> None:
    a = Cardiac().daily([_rr(np.round(np.asarray(rr)))])
    b = Cardiac().daily([_rr(np.round(np.asarray(rr)) * c)])
    for col in ("hrv_rmssd", "hrv_sdnn"):
        np.testing.assert_allclose(b[col], a[col] * c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b["rr_rejected_fraction"], a["rr_rejected_fraction"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * 1440 - 1), st.floats(40, 180)), min_size=1, max_size=300,
                unique_by=lambda x: x[0]),
       st.integers(-10, 10))
def test_whole_day_shift_invariance_and_bounds(samples: list[tuple[int, float]], shift: int) -> None:
    samples.sort()
    minutes = np.array([m for m, _ in samples])
    bpm = np.array([b for _, b in samples])
    a = Cardiac().daily([_hr(minutes, bpm)])
    b = Cardiac().daily([_hr(minutes + 1440 * shift, bpm)])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert (a["resting_hr"].dropna() >= bpm.min() - 1e-9).all()
    assert (a["resting_hr"] <= a["hr_mean"] + 1e-9).sum() == a["resting_hr"].notna().sum()
    cov = a[coverage_column("cardiac")]
    assert ((cov > 0) | a["hr_mean"].isna()).all() and (cov <= 1).all()
