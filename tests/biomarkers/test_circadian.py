"""Circadian family: cosinor on a pure 24 h cosine, IS/IV on built patterns, M10/L5 on square waves."""

from __future__ import annotations

import numpy as np
import pytest
from actigraphy_synthetic import counts_series, day_pattern
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.circadian import (
    CircadianFamily,
    cosinor,
    hourly_counts,
    lmx,
    recording_rhythm,
    stability_variability,
)
from mindbridge.biomarkers.epochs import EpochGrid, epoch_grid

FAMILY = CircadianFamily()


def cosine_days(days: int, epoch_s: int = 60, mesor: float = 100.0, amplitude: float = 50.0,
                peak: float = 15.0) -> np.ndarray:
    hours = np.arange(days * 86_400 // epoch_s) * epoch_s / 3600.0
    return (mesor + amplitude * np.cos(2 * np.pi * (hours - peak) / 24)) * epoch_s / 60


def test_cosinor_recovers_a_pure_24h_cosine() -> None:
    table = FAMILY.daily([counts_series(cosine_days(3, peak=15.5))])
    for _, row in table.iterrows():
        assert row["cosinor_mesor"] == pytest.approx(100)
        assert row["cosinor_amplitude"] == pytest.approx(50)
        assert row["cosinor_acrophase"] == pytest.approx(15.5)
        assert row["cosinor_r2"] == pytest.approx(1)


def test_a_day_without_rhythm_has_no_acrophase() -> None:
    fit = cosinor(np.vstack([np.full(1440, 3.0), 100 + 50 * np.cos(2 * np.pi * (np.arange(1440) / 60 - 15.5) / 24)]),
                  60)
    assert fit["amplitude"][0] == pytest.approx(0, abs=1e-9) and np.isnan(fit["acrophase"][0])
    assert fit["acrophase"][1] == pytest.approx(15.5)


def test_identical_days_have_interdaily_stability_one_and_sine_intradaily_variability() -> None:
    table = FAMILY.daily([counts_series(cosine_days(10))])
    assert table["interdaily_stability"].iloc[0] == pytest.approx(1)
    # Hourly sums of a 24 h cosine are a 24 h cosine: IV = mean squared step / variance = 2 (1 - cos(2π/24)).
    assert table["intradaily_variability"].iloc[0] == pytest.approx(2 * (1 - np.cos(2 * np.pi / 24)), rel=1e-3)
    assert table["interdaily_stability_7d"].iloc[:2].isna().all()  # fewer than 72 valid hours
    np.testing.assert_allclose(table["interdaily_stability_7d"].iloc[2:], 1)


def test_noise_has_no_day_to_day_structure() -> None:
    rng = np.random.default_rng(1)
    hours = rng.normal(100, 10, (200, 24))
    stab, var = stability_variability(hours, 200)
    assert stab[-1] < 0.05
    assert var[-1] == pytest.approx(2, rel=0.1)  # white noise: E[(x_i - x_{i-1})²] = 2 σ²


def test_square_wave_m10_l5_onsets_and_relative_amplitude() -> None:
    counts = day_pattern(3, 60, {(7, 17): 200.0}, rest=20.0)
    row = FAMILY.daily([counts_series(counts)]).iloc[1]
    assert (row["m10"], row["m10_onset"]) == (pytest.approx(200), pytest.approx(7))
    assert row["l5"] == pytest.approx(20)
    assert row["l5_onset"] == 0  # ties resolve to the earliest start
    assert row["relative_amplitude"] == pytest.approx(180 / 220)
    assert row["relative_amplitude_recording"] == pytest.approx(180 / 220)


def test_windows_wrap_around_midnight() -> None:
    profile = np.full(24, 10.0)
    profile[[22, 23, 0, 1, 2]] = 1.0
    (low, at), (high, high_at) = lmx(profile, [(5, True), (3, False)])
    assert (low[0], at[0]) == (1.0, 22)
    assert (high[0], high_at[0]) == (10.0, 3)  # the first of the tied 10-count windows after the dip


def test_sample_variance_variant_differs_by_the_known_factor() -> None:
    rng = np.random.default_rng(3)
    hours = rng.gamma(2.0, 50.0, (9, 24))
    is0, iv0 = stability_variability(hours, 9, ddof=0)
    is1, iv1 = stability_variability(hours, 9, ddof=1)
    n = hours.size
    assert is1[-1] == pytest.approx(is0[-1] * 24 / 23 * (n - 1) / n)
    assert iv1[-1] == pytest.approx(iv0[-1] * (n - 1) / n)


def test_a_rolling_window_sees_only_its_own_days() -> None:
    regular = cosine_days(7)
    rng = np.random.default_rng(5)
    chaotic = rng.permutation(cosine_days(7))
    table = FAMILY.daily([counts_series(np.r_[regular, chaotic])])
    assert table["interdaily_stability_7d"].iloc[6] == pytest.approx(1)
    assert table["interdaily_stability_7d"].iloc[13] < 0.3
    assert 0.3 < table["interdaily_stability"].iloc[0] < 1


def test_thirty_second_epochs_give_the_same_rhythm() -> None:
    minute = day_pattern(8, 60, {(7, 12): 80.0, (13, 22): 30.0}, rest=3.0) + np.tile(np.arange(1440) % 7, 8)
    a = FAMILY.daily([counts_series(minute)])
    b = FAMILY.daily([counts_series(np.repeat(minute / 2, 2), epoch_s=30)])
    cols = ["m10", "l5", "relative_amplitude", "interdaily_stability", "intradaily_variability",
            "interdaily_stability_7d", "cosinor_mesor", "cosinor_amplitude"]
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=2e-3)


def test_missing_hours_are_left_out_not_filled() -> None:
    counts = cosine_days(5)
    counts[2000:2030] = np.nan
    grid = counts.reshape(5, -1)
    hours = hourly_counts(EpochGrid(np.datetime64("2024-03-04"), 60, grid, ~np.isnan(grid)))
    assert np.isnan(hours).sum() == 1 + (2000 % 60 + 30 > 60)
    hit = counts[1980:2040]  # the hours the gap touches are left out whole
    assert np.nansum(hours) == pytest.approx(np.nansum(counts) - np.nansum(hit))
    series = counts_series(np.where(np.isnan(counts), 0, counts))
    series.values[2000:2030] = 0  # a short run of zeros is not non-wear: still counted
    assert FAMILY.daily([series])["coverage_circadian"].min() == 1


@settings(max_examples=20, deadline=None)
@given(shift=st.integers(-20, 20), scale=st.floats(0.01, 100), seed=st.integers(0, 2**16))
def test_rhythm_is_invariant_to_whole_day_shifts_and_count_scale(shift: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(cosine_days(8)).astype(float) + 1
    base = FAMILY.daily([counts_series(counts)])
    start = str(np.datetime64("2024-03-04T00:00") + np.timedelta64(shift, "D"))
    moved = FAMILY.daily([counts_series(counts * scale, start=start)])
    unitless = ["relative_amplitude", "interdaily_stability_7d", "intradaily_variability_7d",
                "interdaily_stability", "intradaily_variability", "cosinor_r2", "cosinor_acrophase"]
    # Onsets are left out: near-tied windows may swap under float rounding, their means may not.
    np.testing.assert_allclose(moved[unitless].to_numpy(), base[unitless].to_numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(moved[["m10", "l5", "cosinor_mesor"]].to_numpy(),
                               base[["m10", "l5", "cosinor_mesor"]].to_numpy() * scale, rtol=1e-7)


@given(st.lists(st.floats(0, 500), min_size=1, max_size=200))
@settings(max_examples=30, deadline=None)
def test_degenerate_input_gives_nan_not_errors(values: list[float]) -> None:
    table = FAMILY.daily([counts_series(np.asarray(values))])
    assert table["interdaily_stability"].isna().all()  # never 72 valid hours
    assert table["cosinor_r2"].isna().all()  # never 75 % of a day


def test_constant_activity_has_undefined_rhythm() -> None:
    out = cosinor(np.full((1, 1440), 5.0), 60)
    assert out["mesor"][0] == pytest.approx(5) and out["amplitude"][0] == pytest.approx(0, abs=1e-9)
    assert np.isnan(out["r2"][0])


def test_recordings_stacked_in_one_pass_do_not_leak_into_each_other() -> None:
    rng = np.random.default_rng(11)
    regular = epoch_grid(counts_series(rng.poisson(cosine_days(9)).astype(float) + 1))
    chaotic = epoch_grid(counts_series(rng.permutation(cosine_days(5)), start="2024-05-01T00:00"))
    flat = epoch_grid(counts_series(np.full(4 * 1440, 7.0)))
    together = recording_rhythm([regular, chaotic, flat])
    for i, grid in enumerate((regular, chaotic, flat)):
        alone = recording_rhythm([grid])
        for name, values in together.items():
            np.testing.assert_allclose(values[i], alone[name][0], rtol=1e-12, err_msg=name)
    assert together["interdaily_stability"][0] > 0.9 > 0.3 > together["interdaily_stability"][1]
    assert np.isnan(together["interdaily_stability"][2])  # constant counts: no variance, IS undefined
    assert together["relative_amplitude_recording"][2] == 0
    with pytest.raises(ValueError, match="one epoch length"):
        recording_rhythm([regular, epoch_grid(counts_series(np.ones(2880), epoch_s=30))])
