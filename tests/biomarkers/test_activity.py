"""Activity family: known answers on synthetic days, epoch-length and scaling rules, non-wear, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from actigraphy_synthetic import counts_series, day_pattern
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.activity import ActivityFamily
from mindbridge.biomarkers.epochs import EpochError, epoch_grid, infer_epoch, nonwear
from mindbridge.datapoints import Kind, Series
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy

FAMILY = ActivityFamily()


def test_known_day_totals_mean_sd_and_zero_fraction() -> None:
    counts = day_pattern(3, 60, {(8, 20): 10.0}, rest=1.0)
    table = FAMILY.daily([counts_series(counts)])
    assert len(table) == 3
    row = table.iloc[1]
    assert row["activity_total"] == 720 * 10 + 720 * 1
    assert row["activity_mean"] == pytest.approx(5.5)
    assert row["activity_sd"] == pytest.approx(np.sqrt(20.25 * 1440 / 1439))
    assert row["activity_zero_fraction"] == 0
    assert row["coverage_activity"] == 1
    assert row["activity_kra"] != row["activity_kra"]  # no rest epoch: undefined, NaN


def test_nonwear_is_excluded_and_reported_but_short_zero_runs_count_as_inactivity() -> None:
    counts = day_pattern(2, 60, {(8, 20): 10.0}, rest=1.0)
    counts[1440 + 600:1440 + 750] = 0  # 150 min of zeros on day 2: non-wear
    counts[100:200] = 0  # 100 min of zeros on day 1: inactivity
    table = FAMILY.daily([counts_series(counts)])
    day1, day2 = table.iloc[0], table.iloc[1]
    assert day1["activity_nonwear"] == 0
    assert day1["activity_zero_fraction"] == pytest.approx(100 / 1440)
    assert day2["activity_nonwear"] == 150
    assert day2["coverage_activity"] == pytest.approx(1 - 150 / 1440)
    assert day2["activity_zero_fraction"] == 0
    assert day2["activity_total"] == (720 - 150) * 10 + 720


def test_alternating_rest_and_activity_gives_transition_probability_one() -> None:
    counts = np.tile([0.0, 5.0], 1440)
    row = FAMILY.daily([counts_series(counts)]).iloc[0]
    assert row["activity_kra"] == pytest.approx(1.0)
    assert row["activity_kar"] == pytest.approx(1.0)
    runs = np.tile([0.0, 0.0, 0.0, 5.0], 720)  # rest bouts of 3 min: leaves rest with probability 1/3 a minute
    row = FAMILY.daily([counts_series(runs)]).iloc[0]
    assert row["activity_kra"] == pytest.approx(1 / 3, rel=1e-3)
    assert row["activity_kar"] == pytest.approx(1.0)


def test_thirty_second_epochs_give_the_same_per_minute_features() -> None:
    minute = day_pattern(2, 60, {(7, 9): 40.0, (12, 18): 8.0}, rest=2.0)
    half = np.repeat(minute / 2, 2)
    a = FAMILY.daily([counts_series(minute)])
    b = FAMILY.daily([counts_series(half, epoch_s=30)])
    for col in ("activity_total", "activity_mean", "activity_zero_fraction", "coverage_activity"):
        np.testing.assert_allclose(a[col], b[col])


@settings(max_examples=25, deadline=None)
@given(shift=st.integers(-30, 30), scale=st.floats(0.01, 1000), seed=st.integers(0, 2**16))
def test_whole_day_shift_moves_the_index_and_scaling_scales_levels(shift: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3.0, 3 * 1440).astype(float)
    base = FAMILY.daily([counts_series(counts)])
    start = str(np.datetime64("2024-03-04T00:00") + np.timedelta64(shift, "D"))
    moved = FAMILY.daily([counts_series(counts * scale, start=start)])
    assert (moved.index - base.index == pd.Timedelta(days=shift)).all()
    for col in ("activity_total", "activity_mean", "activity_sd"):
        np.testing.assert_allclose(moved[col].to_numpy(), base[col].to_numpy() * scale, rtol=1e-9)
    for col in ("activity_zero_fraction", "activity_kra", "activity_kar", "coverage_activity"):
        np.testing.assert_allclose(moved[col].to_numpy(), base[col].to_numpy(), rtol=1e-12)


@given(st.lists(st.floats(0, 1000) | st.just(0.0), min_size=1, max_size=300))
@settings(max_examples=40, deadline=None)
def test_any_short_recording_gives_bounded_features_without_crashing(values: list[float]) -> None:
    table = FAMILY.daily([counts_series(np.asarray(values), start="2024-03-04T23:00")])
    assert set(table.columns) == {f.name for f in FAMILY.features} | {"coverage_activity"}
    assert ((table["coverage_activity"] >= 0) & (table["coverage_activity"] <= 1)).all()
    zero = table["activity_zero_fraction"].dropna()
    assert ((zero >= 0) & (zero <= 1)).all()


def test_local_days_follow_the_source_time_zone() -> None:
    counts = np.ones(1440)
    utc = FAMILY.daily([counts_series(counts, tz="UTC")])
    oslo_times = np.datetime64("2024-03-04T00:00", "ns") + np.arange(1440) * np.timedelta64(60, "s")
    oslo = Series(subject="s1", kind=Kind.ACTIVITY_COUNTS, source="x", tz="+02:00",
                  time=oslo_times - np.timedelta64(2, "h"), columns={"value": counts})
    assert len(utc) == 1
    pd.testing.assert_frame_equal(FAMILY.daily([oslo]), utc)


def test_steps_intervals_are_binned_and_gaps_between_records_are_zero_steps() -> None:
    start = np.datetime64("2024-03-04T08:00", "ns") + np.array([0, 15, 60], dtype="timedelta64[m]")
    steps = Series(subject="s1", kind=Kind.STEPS, source="phone", tz="UTC", time=start,
                   end=start + np.timedelta64(15, "m"), columns={"value": np.array([100.0, 50.0, 30.0])})
    row = FAMILY.daily([steps]).iloc[0]
    assert row["activity_total"] == 180
    assert row["coverage_activity"] == pytest.approx(5 / 96)  # 08:00-09:15 in 15-min epochs
    assert row["activity_zero_fraction"] == pytest.approx(2 / 5)


def test_epoch_rules() -> None:
    assert infer_epoch(np.array([0, 30, 60, 90, 150]) * 1_000_000_000) == 30
    with pytest.raises(EpochError, match="does not divide a day"):
        infer_epoch(np.array([0, 7, 14]) * 1_000_000_000)
    with pytest.raises(EpochError, match="fewer than two"):
        infer_epoch(np.array([5]))
    mask = nonwear(np.r_[np.zeros(120), 1.0, np.zeros(119), np.nan, np.zeros(200)], 60)
    assert mask[:120].all() and not mask[120:241].any() and mask[241:].all()


def test_depresjon_subject_matches_a_direct_computation(depresjon_dir: Path) -> None:
    path = depresjon_dir / "condition" / "condition_1.csv"
    series = DepresjonActigraphy().read(path, ReadContext()).series[0]
    table = FAMILY.daily([series])
    raw = pd.read_csv(path)
    grid = epoch_grid(series)
    full = table.index[table["coverage_activity"] == 1]
    assert len(full) > 5
    for day in full[:5]:
        minutes = raw.loc[raw["date"] == day.strftime("%Y-%m-%d"), "activity"].to_numpy(float)
        assert table.loc[day, "activity_total"] == minutes.sum()
        assert table.loc[day, "activity_sd"] == pytest.approx(minutes.std(ddof=1))
        assert table.loc[day, "activity_zero_fraction"] == pytest.approx(np.mean(minutes == 0))
    assert table["activity_nonwear"].sum() == (~grid.worn & ~np.isnan(grid.counts)).sum()


def test_families_sharing_a_series_share_its_grid() -> None:
    series = counts_series(day_pattern(2, 60, {(8, 20): 10.0}, rest=1.0))
    grid = epoch_grid(series)
    assert epoch_grid(series) is grid
    assert epoch_grid(series, 60) is not grid and epoch_grid(series, detect_nonwear=False) is not grid
    np.testing.assert_array_equal(epoch_grid(series, 60).counts, grid.counts)
    assert epoch_grid(counts_series(series.values.copy())) is not grid
