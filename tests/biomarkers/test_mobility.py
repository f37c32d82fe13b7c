"""Mobility: a built home/work day with known answers, gaps, jitter, clustering bounds, circadian movement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lombscargle

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.mobility import CIRCADIAN_PERIODS_S, Mobility, windowed_lomb_scargle
from mindbridge.biomarkers.mobility_places import EARTH_RADIUS_M, cluster_places, haversine
from mindbridge.datapoints import Kind, Series

HOME = (59.9139, 10.7522)
METRE_LAT = 180 / (np.pi * EARTH_RADIUS_M)  # degrees of latitude per metre
T0 = np.datetime64("2024-09-02T00:00", "ns")


def _fixes(minutes: np.ndarray, north_m: np.ndarray, east_m: np.ndarray | None = None,
           accuracy: np.ndarray | None = None, tz: str = "UTC") -> Series:
    east = np.zeros(len(minutes)) if east_m is None else east_m
    lat = HOME[0] + north_m * METRE_LAT
    lon = HOME[1] + east * METRE_LAT / np.cos(np.radians(HOME[0]))
    acc = np.full(len(minutes), 10.0) if accuracy is None else accuracy
    t = (T0 + np.asarray(minutes) * np.timedelta64(60, "s")).astype("datetime64[ns]")
    return Series("m1", Kind.GPS_FIX, "phone", tz, t, {"latitude": lat, "longitude": lon, "accuracy": acc})


def _workday(period_min: int = 1440) -> np.ndarray:
    """Metres north of home, minute by minute: home, 20-min trip to work 2 km north, work, trip back, home."""
    m = np.arange(period_min) * 1440 / period_min
    return np.interp(m, [0, 480, 500, 960, 980, 1440], [0, 0, 2000, 2000, 0, 0])


def test_known_workday() -> None:
    north = np.r_[_workday(), 0.0]        # one more fix at next midnight, so every minute of the day is covered
    day = Mobility().daily([_fixes(np.arange(1441), north)]).iloc[0]
    assert day[coverage_column("mobility")] == pytest.approx(1.0)
    home, work, moving = 939, 459, 42     # minutes; stop boundaries fall at the first fix that moves
    assert day["home_time"] == pytest.approx(home / 60)
    assert day["home_stay_fraction"] == pytest.approx(home / 1440)
    assert day["moving_fraction"] == pytest.approx(moving / 1440)
    assert day["places_visited"] == 2
    assert day["stops"] == 3
    p = np.array([home, work]) / (home + work)
    assert day["location_entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert day["location_entropy_normalized"] == pytest.approx(-(p * np.log(p)).sum() / np.log(2))
    assert day["distance_travelled"] == pytest.approx(4.0, rel=1e-3)
    assert day["max_distance_from_home"] == pytest.approx(2.0, rel=1e-3)
    w = north[:-1]
    assert day["radius_of_gyration"] == pytest.approx(np.sqrt(np.mean((w - w.mean()) ** 2)), rel=1e-3)


def test_gaps_are_reported_not_filled() -> None:
    keep = np.r_[0:720, 840:1441]                      # nothing from 12:00 to 14:00
    north = np.r_[_workday(), 0.0]
    day = Mobility().daily([_fixes(keep, north[keep])]).iloc[0]
    assert day[coverage_column("mobility")] == pytest.approx(1319 / 1440)
    assert day["home_stay_fraction"] == pytest.approx(939 / 1319)
    assert day["moving_fraction"] == pytest.approx(42 / 1319)
    # A bigger gap limit bridges the two hours (documented, explicit) and the coverage says so.
    bridged = Mobility(max_gap_minutes=180).daily([_fixes(keep, north[keep])]).iloc[0]
    assert bridged[coverage_column("mobility")] == pytest.approx(1.0)


def test_jitter_at_one_place_is_a_stop_not_travel() -> None:
    rng = np.random.default_rng(7)
    n = 1440
    s = _fixes(np.arange(n), rng.normal(0, 5, n), rng.normal(0, 5, n))
    day = Mobility().daily([s]).iloc[0]
    assert day["places_visited"] == 1
    assert day["location_entropy_normalized"] == 0.0
    assert day["distance_travelled"] < 0.2
    assert day["home_stay_fraction"] > 0.95


def test_inaccurate_fixes_are_set_aside_and_no_night_means_no_home() -> None:
    minutes = np.arange(600, 1200)                       # 10:00-20:00 only: no stop at night
    north = np.where(minutes < 900, 0.0, 3000.0)
    acc = np.where(minutes % 50 == 0, 500.0, 10.0)      # every 50th fix is 500 m uncertain
    acc[5] = np.nan                                      # accuracy unknown: kept
    day = Mobility().daily([_fixes(minutes, north, accuracy=acc)]).iloc[0]
    assert np.isnan(day["home_time"]) and np.isnan(day["max_distance_from_home"])
    assert day["places_visited"] == 2
    assert day[coverage_column("mobility")] == pytest.approx(598 / 1440)  # 10:00 itself was set aside


def test_circadian_movement_is_higher_for_a_24_hour_routine() -> None:
    days = 10
    minutes = np.arange(days * 1440)
    daily = Mobility().daily([_fixes(minutes, np.tile(_workday(), days))])
    other = Mobility().daily([_fixes(minutes, np.resize(_workday(1020), days * 1440))])  # a 17-hour "day"
    assert daily["circadian_movement"].iloc[:2].isna().all()   # under 48 h of trace
    assert (daily["circadian_movement"].iloc[7:] > other["circadian_movement"].iloc[7:] + 1).all()


def test_empty_and_parameter_errors() -> None:
    assert Mobility().daily([]).empty
    with pytest.raises(ValueError, match="place_radius_m"):
        Mobility(place_radius_m=0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-3000, 3000), st.floats(-3000, 3000)), min_size=1, max_size=120))
def test_places_never_span_more_than_their_diameter(points: list[tuple[float, float]]) -> None:
    xy = np.array(points)
    labels = cluster_places(xy[:, 0], xy[:, 1], 200.0)
    snap = 10.0 * np.sqrt(2)  # grid snapping moves each point at most half a cell diagonal
    for k in np.unique(labels):
        member = xy[labels == k]
        span = np.sqrt(((member[:, None, :] - member[None, :, :]) ** 2).sum(-1)).max()
        assert span <= 200.0 + snap + 1e-9


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * 1440), st.floats(-2000, 2000)), min_size=2, max_size=150,
                unique_by=lambda p: p[0]),
       st.integers(-5, 5))
def test_whole_day_shift_invariance(samples: list[tuple[int, float]], shift: int) -> None:
    samples.sort()
    minutes = np.array([m for m, _ in samples])
    north = np.array([v for _, v in samples])
    a = Mobility().daily([_fixes(minutes, north)])
    b = Mobility().daily([_fixes(minutes + 1440 * shift, north)])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), rtol=1e-6)
    cov = a[coverage_column("mobility")]
    assert ((cov >= 0) & (cov <= 1 + 1e-12)).all()
    assert (a["moving_fraction"].dropna().between(0, 1)).all()


def test_haversine_quarter_meridian() -> None:
    assert haversine(np.array(0.0), np.array(0.0), np.array(90.0), np.array(0.0)) == pytest.approx(
        np.pi / 2 * EARTH_RADIUS_M)


def test_windowed_lomb_scargle_matches_scipy_window_by_window() -> None:
    rng = np.random.default_rng(3)
    t = np.sort(rng.random(2000)) * 8 * 86400
    y = np.sin(2 * np.pi * t / 86400) + rng.normal(0, 0.3, len(t))
    first, last = np.array([0, 150, 900, 5]), np.array([2000, 1500, 1000, 5])
    got = windowed_lomb_scargle(t, y, first, last, CIRCADIAN_PERIODS_S)
    for row, (a, b) in enumerate(zip(first, last, strict=True)):
        if a == b:
            assert np.isnan(got[row]).all()
            continue
        window = y[a:b] - y[a:b].mean()
        np.testing.assert_allclose(got[row], lombscargle(t[a:b], window, 2 * np.pi / CIRCADIAN_PERIODS_S), rtol=1e-7)
