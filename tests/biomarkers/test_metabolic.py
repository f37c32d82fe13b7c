"""Metabolic/endocrine: CGM glucose metrics on built curves with known answers, MAGE, and cortisol CAR/slope."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.metabolic import GlucoseFamily, HormoneFamily, mage
from mindbridge.datapoints import Kind, Series

START = np.datetime64("2024-03-01T00:00", "ns")
FIVE_MIN = np.timedelta64(5, "m")


def glucose(values: np.ndarray, start: np.datetime64 = START, tz: str = "UTC") -> Series:
    t = (start + np.arange(len(values)) * FIVE_MIN).astype("datetime64[ns]")
    return Series("g1", Kind.GLUCOSE, "cgm", tz, t, {"value": np.asarray(values, float)})


def sine_day(days: int = 1, ripple: float = 0.0) -> np.ndarray:
    """100 ± 50 mg/dL with a 6 h period sampled every 5 min, plus an optional fast 40-min ripple."""
    hours = np.arange(288 * days) * 5 / 60
    return 100 + 50 * np.sin(2 * np.pi * hours / 6) + ripple * np.sin(2 * np.pi * hours / (40 / 60))


def below_share(level: float) -> float:
    """Share of time a 100 ± 50 sine spends below `level` (analytic)."""
    s = (level - 100) / 50
    return (math.pi + 2 * math.asin(s)) / (2 * math.pi)


def test_sine_day_has_its_analytic_level_spread_and_ranges() -> None:
    row = GlucoseFamily().daily([glucose(sine_day())]).iloc[0]
    n = 288
    sd = 50 / math.sqrt(2) * math.sqrt(n / (n - 1))
    assert row["glucose_mean"] == pytest.approx(100)
    assert row["glucose_sd"] == pytest.approx(sd, rel=1e-6)
    assert row["glucose_cv"] == pytest.approx(sd)
    assert row["glucose_tbr70"] == pytest.approx(100 * below_share(70), abs=1.0)
    assert row["glucose_tbr54"] == pytest.approx(100 * below_share(54), abs=1.0)
    assert row["glucose_tir"] == pytest.approx(100 - row["glucose_tbr70"])
    assert row["glucose_tar180"] == 0 and row["glucose_tar250"] == 0
    assert row["glucose_mage"] == pytest.approx(100, abs=0.5)
    assert row[coverage_column("glucose")] == 1.0


def test_range_edges_follow_the_consensus() -> None:
    row = GlucoseFamily().daily([glucose(np.array([53, 54, 69, 70, 180, 181, 250, 251]))]).iloc[0]
    assert row["glucose_tir"] == 25.0 and row["glucose_tbr70"] == 37.5 and row["glucose_tbr54"] == 12.5
    assert row["glucose_tar180"] == 37.5 and row["glucose_tar250"] == 12.5
    assert row[coverage_column("glucose")] == pytest.approx(8 / 288)


def test_mage_ignores_ripples_smaller_than_one_sd() -> None:
    assert 95 <= mage(sine_day(ripple=5.0)) <= 112


def test_mage_counts_complete_legs_in_the_first_direction() -> None:
    # partial first (120->100) and last (180->150) legs dropped; upward legs 100, 80, 80
    x = np.array([120, 100, 200, 110, 190, 100, 180, 150], float)
    assert mage(x) == pytest.approx((100 + 80 + 80) / 3)
    # reversed, 180 (second reading) is a complete peak: falling legs 180->100, 190->110, 200->100
    assert mage(x[::-1]) == pytest.approx((80 + 80 + 100) / 3)


@pytest.mark.parametrize("values", [[100.0] * 50, [100.0, 200.0], list(np.linspace(80, 240, 100)), []])
def test_mage_is_nan_without_a_complete_excursion(values: list[float]) -> None:
    assert np.isnan(mage(np.array(values)))


def test_half_a_day_of_readings_is_half_covered_and_days_are_local() -> None:
    # 05:00-16:55 UTC is 00:00-11:55 local at UTC-5: one local day, half covered
    table = GlucoseFamily().daily([glucose(np.full(144, 110.0), start=np.datetime64("2024-03-01T05:00", "ns"),
                                           tz="-05:00")])
    assert list(table.index.strftime("%Y-%m-%d")) == ["2024-03-01"]
    evening = GlucoseFamily().daily([glucose(np.full(144, 110.0), start=np.datetime64("2024-03-01T20:00", "ns"),
                                             tz="-05:00")])
    assert list(evening.index.strftime("%Y-%m-%d")) == ["2024-03-01", "2024-03-02"]  # 15:00-02:55 local
    assert table[coverage_column("glucose")].iloc[0] == pytest.approx(0.5)
    assert np.isnan(table["glucose_mage"].iloc[0])


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0.5, 2.5), shift=st.integers(-300, 300), noise_seed=st.integers(0, 1000))
def test_scaling_and_whole_day_shifts(scale: float, shift: int, noise_seed: int) -> None:
    values = sine_day(2) + np.random.default_rng(noise_seed).normal(0, 3, 576)
    base = GlucoseFamily().daily([glucose(values)])
    moved = GlucoseFamily().daily([glucose(values * scale, start=START + np.timedelta64(shift, "D"))])
    assert ((moved.index - base.index).days == shift).all()
    for name in ("glucose_mean", "glucose_sd", "glucose_mage"):
        np.testing.assert_allclose(moved[name], base[name] * scale, rtol=1e-9)
    np.testing.assert_allclose(moved["glucose_cv"], base["glucose_cv"], rtol=1e-9)


def cortisol(minutes_after: Sequence[float], values: Sequence[float], wake: str = "2024-03-01T07:00",
             analyte: str = "cortisol", tz: str = "UTC") -> Series:
    t = (np.datetime64(wake, "ns") + (np.array(minutes_after) * 60).astype("timedelta64[s]")).astype("datetime64[ns]")
    return Series("h1", Kind.HORMONE, "saliva", tz, t,
                  {"value": np.array(values, float), "analyte": np.array([analyte] * len(values), object)})


def sleep(start: str, end: str, tz: str = "UTC") -> Series:
    s, e = np.array([start], "datetime64[ns]"), np.array([end], "datetime64[ns]")
    return Series("h1", Kind.SLEEP_EPISODE, "watch", tz, s, {"value": ((e - s) / np.timedelta64(1, "m"))}, end=e)


MINUTES = [0, 30, 45, 300, 600, 900]
LEVELS = [10.0, 18.0, 16.0, 7.5, 5.0, 2.5]  # after the CAR, 10 - 0.5 nmol/L per hour since waking


def test_awakening_response_and_slope_of_a_built_day() -> None:
    row = HormoneFamily().daily([cortisol(MINUTES, LEVELS)]).iloc[0]
    # trapezoids (10+18)/2*30 + (18+16)/2*15 = 675, minus the baseline 10 x 45 min
    assert row["cortisol_car_auci"] == pytest.approx(225.0)
    assert row["cortisol_car_increase"] == pytest.approx(8.0)
    assert row["cortisol_diurnal_slope"] == pytest.approx(-0.5)
    assert row["cortisol_samples"] == 6 and row[coverage_column("cortisol")] == 1.0


def test_waking_from_the_main_sleep_episode_and_late_sampling() -> None:
    naps = [sleep("2024-02-29T23:00", "2024-03-01T06:50"), sleep("2024-03-01T13:00", "2024-03-01T13:30")]
    on_time = HormoneFamily().daily([*naps, cortisol(MINUTES, LEVELS)]).iloc[0]
    assert on_time["cortisol_car_auci"] == pytest.approx(225.0)  # first sample 10 min after waking
    assert on_time["cortisol_diurnal_slope"] == pytest.approx(-0.5)  # hours since 06:50 shift the intercept only
    late = HormoneFamily().daily([sleep("2024-02-29T23:00", "2024-03-01T06:30"), cortisol(MINUTES, LEVELS)]).iloc[0]
    assert np.isnan(late["cortisol_car_auci"]) and np.isnan(late["cortisol_diurnal_slope"])
    assert late[coverage_column("cortisol")] == 0.0


def test_other_analytes_and_sleep_alone_are_ignored() -> None:
    family = HormoneFamily("cortisol")
    mixed = family.daily([cortisol(MINUTES, LEVELS), cortisol([5, 60], [1.0, 2.0], analyte="dhea")])
    assert mixed["cortisol_samples"].iloc[0] == 6
    only_sleep = family.daily([sleep("2024-02-29T23:00", "2024-03-01T06:50")])
    assert only_sleep.empty and list(only_sleep.columns)[-1] == coverage_column("cortisol")


def test_a_day_too_short_for_a_slope_keeps_the_awakening_response() -> None:
    row = HormoneFamily().daily([cortisol([0, 30, 45, 120], [10, 18, 16, 12])]).iloc[0]
    assert row["cortisol_car_auci"] == pytest.approx(225.0)
    assert np.isnan(row["cortisol_diurnal_slope"]) and row[coverage_column("cortisol")] == 0.5
