"""Activity-profile family: distribution, clock blocks, day/night, autocorrelations, entropy, rest exponent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from actigraphy_synthetic import counts_series, day_pattern
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.activity_profile import (
    FEATURES,
    MIN_BOUTS,
    ActivityProfile,
    profile_columns,
    rest_exponent,
)
from mindbridge.biomarkers.epochs import EpochGrid, epoch_grid
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy

PER_DAY = 1440


def grid_of(counts: np.ndarray, worn: np.ndarray | None = None) -> EpochGrid:
    """A one-minute grid of `(days, 1440)` counts, worn wherever present unless told otherwise."""
    counts = np.asarray(counts, dtype=float).reshape(-1, PER_DAY)
    mask = ~np.isnan(counts) if worn is None else worn.reshape(counts.shape)
    return EpochGrid(np.datetime64("2024-03-04", "D"), 60, counts, mask)


def test_constant_blocks_give_their_known_log_levels() -> None:
    # 0 at night (00-08), 100 counts/min 08-20, 10 counts/min 20-24, for 2 identical days
    counts = day_pattern(2, 60, {(8, 20): 100.0, (20, 24): 10.0}, rest=0.0)
    _, c = profile_columns(grid_of(counts))
    assert c["activity_block_00"][0] == 0.0 and c["activity_block_04"][0] == 0.0
    for h in (8, 12, 16):
        assert c[f"activity_block_{h:02d}"][0] == pytest.approx(np.log1p(100.0))
    assert c["activity_block_20"][0] == pytest.approx(np.log1p(10.0))
    # night 20-08 = 4 h of 10 and 8 h of 0 → mean 10/3
    assert c["activity_day_night"][0] == pytest.approx(np.log1p(100.0) - np.log1p(10.0 / 3.0))
    assert c["activity_log_mean"][0] == pytest.approx((12 * np.log1p(100.0) + 4 * np.log1p(10.0)) / 24)
    # sorted: 480 zeros, 240 tens, 720 hundreds; the median falls between the last 10 and the first 100
    assert c["activity_log_q50"][0] == pytest.approx((np.log1p(10.0) + np.log1p(100.0)) / 2)
    assert c["activity_log_q95"][0] == pytest.approx(np.log1p(100.0))
    mean = (12 * 100 + 4 * 10) / 24
    sd = np.sqrt((12 * 60 * (100 - mean) ** 2 + 4 * 60 * (10 - mean) ** 2 + 8 * 60 * mean**2) / (PER_DAY - 1))
    assert c["activity_cv"][0] == pytest.approx(sd / mean)
    # identical days correlate perfectly at lag 24 h; the first day has no previous day
    assert np.isnan(c["activity_day_autocorrelation"][0])
    assert c["activity_day_autocorrelation"][1] == pytest.approx(1.0)
    # activity in 16 hours: hourly shares 100/1240 × 12 and 10/1240 × 4
    share = np.r_[np.full(12, 100.0), np.full(4, 10.0)] / 1240.0
    assert c["activity_hourly_entropy"][0] == pytest.approx(-np.sum(share * np.log(share)) / np.log(24))


def test_even_activity_has_full_entropy_and_no_day_night_contrast() -> None:
    _, c = profile_columns(grid_of(np.full(PER_DAY, 7.0)))
    assert c["activity_hourly_entropy"][0] == pytest.approx(1.0)
    assert c["activity_day_night"][0] == pytest.approx(0.0)
    assert c["activity_cv"][0] == pytest.approx(0.0)
    assert np.isnan(c["activity_lag1_autocorrelation"][0])  # no variance: undefined, not 1


def test_lag1_autocorrelation_separates_smooth_from_alternating() -> None:
    smooth = np.repeat(np.tile([0.0, 200.0], 24), 30)  # 30-minute bouts
    alternating = np.tile([0.0, 200.0], PER_DAY // 2)
    _, a = profile_columns(grid_of(smooth))
    _, b = profile_columns(grid_of(alternating))
    logged = np.log1p(smooth)
    assert a["activity_lag1_autocorrelation"][0] == pytest.approx(np.corrcoef(logged[:-1], logged[1:])[0, 1])
    assert a["activity_lag1_autocorrelation"][0] > 0.9
    assert b["activity_lag1_autocorrelation"][0] == pytest.approx(-1.0)


def test_rest_exponent_recovers_a_power_law() -> None:
    rng = np.random.default_rng(7)
    gamma = 1.3
    # continuous Pareto above 1.5, rounded to whole epochs: P(D >= d) ~ d^-gamma
    bouts = np.round(1.5 * (1 - rng.random(20_000)) ** (-1 / gamma))
    assert rest_exponent(bouts) == pytest.approx(gamma, rel=0.05)
    assert np.isnan(rest_exponent(np.full(MIN_BOUTS - 1, 5.0)))


def test_longer_rests_lower_the_exponent() -> None:
    rng = np.random.default_rng(3)

    def day(rest_scale: float) -> np.ndarray:
        out, t = [], 0
        while t < PER_DAY:
            rest = int(2 + rng.pareto(1.0) * rest_scale)
            out += [0.0] * rest + [300.0] * 10
            t += rest + 10
        return np.array(out[:PER_DAY])

    _, short = profile_columns(grid_of(day(2.0)))
    _, long = profile_columns(grid_of(day(20.0)))
    assert long["activity_rest_exponent"][0] < short["activity_rest_exponent"][0]


def test_nonwear_is_excluded_and_a_mostly_unworn_day_is_nan() -> None:
    counts = np.tile(np.r_[np.full(720, 50.0), np.full(720, 5.0)], 2)
    worn = np.ones(2 * PER_DAY, dtype=bool)
    worn[:360] = False  # day 1: a quarter not worn (still enough), its 50s partly hidden
    worn[PER_DAY:PER_DAY + 721] = False  # day 2: half not worn
    _, c = profile_columns(grid_of(counts, worn))
    assert c["activity_log_mean"][0] == pytest.approx((360 * np.log1p(50.0) + 720 * np.log1p(5.0)) / 1080)
    assert c["coverage_activity_profile"][0] == pytest.approx(0.75)
    assert all(np.isnan(c[f.name][1]) for f in FEATURES)
    # a block with fewer than half its epochs worn is NaN even on a sufficiently worn day
    assert np.isnan(c["activity_block_00"][0]) and not np.isnan(c["activity_block_04"][0])


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.5, 5.0), seed=st.integers(0, 10_000))
def test_scale_free_features_do_not_change_when_counts_are_rescaled(scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.gamma(0.6, 150.0, 2 * PER_DAY)
    counts[rng.random(len(counts)) < 0.3] = 0.0
    _, a = profile_columns(grid_of(counts))
    _, b = profile_columns(grid_of(counts * scale))
    for name in ("activity_cv", "activity_hourly_entropy", "activity_rest_exponent"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-9, err_msg=name)
    higher = b["activity_log_mean"] >= a["activity_log_mean"]
    assert np.all(higher) if scale >= 1 else not np.any(higher & (b["activity_log_mean"] > a["activity_log_mean"]))
    for name in ("activity_day_autocorrelation", "activity_lag1_autocorrelation"):  # defined on the same days
        assert np.array_equal(np.isnan(a[name]), np.isnan(b[name])), name
        for r in (a[name], b[name]):  # a correlation, so a wrong normaliser shows here
            assert np.all(np.abs(r[~np.isnan(r)]) <= 1 + 1e-12), name


def test_family_on_a_series_and_on_real_depresjon(depresjon_dir: Path) -> None:
    series = counts_series(day_pattern(3, 60, {(9, 21): 120.0}, rest=0.0))
    table = ActivityProfile().daily([series])
    assert list(table.columns) == [f.name for f in FEATURES] + ["coverage_activity_profile"]
    assert len(table) == 3 and table.index.name == "date"
    read = DepresjonActigraphy().read(depresjon_dir / "condition" / "condition_1.csv", ReadContext())
    real = ActivityProfile().daily(read.series)
    grid = epoch_grid(read.series[0])
    worn_enough = grid.worn.mean(axis=1) >= 0.75
    assert real["activity_log_mean"].notna().to_numpy().tolist() == worn_enough.tolist()
    assert ((real["activity_hourly_entropy"].dropna() > 0.5) & (real["activity_hourly_entropy"].dropna() <= 1)).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), days=st.integers(1, 5))
def test_skipped_days_give_the_same_columns_as_the_whole_grid(seed: int, days: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.uniform(0, 300, size=(days, 1)), size=(days, PER_DAY)).astype(float)
    counts[rng.random(counts.shape) < 0.3] = 0.0
    counts[rng.random(counts.shape) < 0.05] = np.nan
    grid = grid_of(counts)
    whole_days, whole = profile_columns(grid)
    assert list(whole) == [f.name for f in FEATURES] + ["coverage_activity_profile"]
    for skip in range(days):
        skipped_days, part = profile_columns(grid, skip=skip)
        assert list(part) == list(whole) and np.array_equal(skipped_days, whole_days[skip:])
        for name, column in part.items():
            assert np.array_equal(column, whole[name][skip:], equal_nan=True), (skip, name)
    with pytest.raises(ValueError, match="skip must leave"):
        profile_columns(grid, skip=days)
