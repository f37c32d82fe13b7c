"""Non-wear: still windows of exact zeros or a constant low floor, Choi's knock allowance, and Depresjon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.activity import activity_columns
from mindbridge.biomarkers.epochs import NONWEAR_MINUTES, epoch_grid, nonwear
from mindbridge.biomarkers.sleep import sleep_columns
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy


def active(n: int, seed: int = 0) -> np.ndarray:
    """Worn daytime counts: varied, level about 300."""
    return np.random.default_rng(seed).gamma(2.0, 150.0, n).round()


def test_a_constant_low_floor_is_nonwear_but_a_still_sleeper_is_not() -> None:
    floor = np.tile([3.0, 5.0], 150)  # 300 min of a device lying on a table reading its floor
    asleep = np.where(np.arange(300) % 10 == 9, 20.0, 0.0)  # 300 min of sleep, a small twitch every 10 min
    counts = np.r_[active(600), floor, active(600, 1), asleep, active(600, 2)]
    mask = nonwear(counts, 60)
    assert mask[600:900].all() and not mask[:600].any() and not mask[900:].any()


def test_exact_zeros_need_the_full_window() -> None:
    base = active(1000)
    for run, expected in ((NONWEAR_MINUTES, True), (NONWEAR_MINUTES - 1, False)):
        counts = base.copy()
        counts[300:300 + run] = 0
        assert nonwear(counts, 60)[300:300 + run].all() == expected
        assert not nonwear(counts, 60)[:300].any()


def test_a_short_knock_on_a_lying_device_stays_nonwear_a_long_one_does_not() -> None:
    for knock, bridged in ((2, True), (3, False)):
        counts = np.r_[active(300), np.zeros(200), np.full(knock, 400.0), np.zeros(200), active(300, 1)]
        mask = nonwear(counts, 60)
        assert mask[500:500 + knock].all() == bridged
        assert mask[300:500].all() and mask[500 + knock:700 + knock].all()


def test_missing_epochs_break_a_still_window() -> None:
    counts = np.r_[active(300), np.zeros(100), np.nan, np.zeros(100), active(300, 1)]
    assert not nonwear(counts, 60).any()


def test_the_window_is_in_minutes_whatever_the_epoch() -> None:
    counts = np.r_[active(600), np.zeros(2 * NONWEAR_MINUTES), active(600, 1)]  # 30-s epochs
    mask = nonwear(counts, 30)
    assert mask[600:600 + 2 * NONWEAR_MINUTES].all() and mask.sum() == 2 * NONWEAR_MINUTES
    assert not nonwear(np.r_[active(600), np.zeros(2 * NONWEAR_MINUTES - 2), active(600, 1)], 30).any()


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1e-3, 1e4), seed=st.integers(0, 2**16), floor=st.sampled_from([0.0, 3.0, 9.0]))
def test_the_rule_does_not_depend_on_the_device_count_scale(scale: float, seed: int, floor: float) -> None:
    rng = np.random.default_rng(seed)
    still = floor + rng.integers(0, 2, 240) * (floor > 0)
    counts = np.r_[active(500, seed), still, active(500, seed + 1)]
    mask = nonwear(counts, 60)
    np.testing.assert_array_equal(nonwear(counts * scale, 60), mask)
    assert mask[500:740].all()


@pytest.mark.slow
def test_depresjon_watches_left_lying_are_nonwear_and_nights_never_exceed_the_time_worn(depresjon_dir: Path) -> None:
    windows = pd.read_csv(depresjon_dir / "scores.csv").set_index("number")["days"]
    inside = [0, 0]  # non-wear minutes, present minutes inside the study windows
    for path in sorted(depresjon_dir.glob("*/*.csv")):
        grid = epoch_grid(DepresjonActigraphy().read(path, ReadContext()).series[0])
        study = int(windows[path.stem]) + 1  # the partial first day, then the study window
        present = ~np.isnan(grid.counts[:study])
        inside[0] += int((present & ~grid.worn[:study]).sum())
        inside[1] += int(present.sum())
        _, act = activity_columns(grid)
        nights, sleep = sleep_columns(grid, scale=1.0)
        span = (sleep["sleep_offset"] - sleep["sleep_onset"]) * 60
        scored = sleep["sleep_total"] + sleep["sleep_waso"]
        np.testing.assert_allclose(scored[~np.isnan(span)], span[~np.isnan(span)], err_msg=path.name)
        assert (np.nan_to_num(scored) <= sleep["coverage_sleep"] * 1440 + 1e-9).all(), path.name
        after = (nights - grid.days[0]).astype(int) > study + 1
        assert not (sleep["sleep_total"][after] > 16 * 60).any(), path.name
        if path.stem in ("control_1", "control_5", "condition_2"):  # their watches lay still for the last week
            tail = grid.days[-8:-1]
            assert np.median(act["coverage_activity"][-8:-1]) == 0, path.name
            assert np.isnan(sleep["sleep_total"][np.isin(nights, tail)]).all(), path.name
    assert inside[0] / inside[1] < 0.02  # the rule takes little worn time
