"""Personal baseline (trailing median/MAD), CUSUM, and plain-words top deviations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.models.baseline import cusum, rolling_baseline, top_deviations
from mindbridge.models.robust import (
    MIN_COVERAGE,
    Cusum,
    Shift,
    arc,
    choose_deviations,
    compare,
    describe,
    track_shift,
)
from mindbridge.summary import Z_LIMIT, Z_WORDS, Deviation, clock, duration, z_words

DAYS = pd.date_range("2024-01-01", periods=30, freq="D", name="date")


def patient() -> pd.DataFrame:
    """A steady patient (midpoint alternating 3.0/3.2 h, 420/440 min sleep) whose last day shifts."""
    alt = np.arange(30) % 2
    table = pd.DataFrame({"sleep_midpoint": 3.0 + 0.2 * alt, "sleep_total": 420.0 + 20 * alt,
                          "activity_mean": 200.0 + 10 * alt}, index=DAYS)
    table.iloc[-1] = [5.2, 430.0, 100.0]
    return table


def test_rolling_baseline_excludes_the_day_and_knows_its_answer() -> None:
    base = rolling_baseline(patient()["sleep_midpoint"], window=28)
    assert base["median"].iloc[:7].isna().all() and base["z"].iloc[:7].isna().all()
    # 14 nights at 3.0 h and 14 at 3.2 h: both are circular medians; the first observed (3.2 h) is kept
    assert base["median"].iloc[-1] == pytest.approx(3.2)
    # the spread is 0.2 h, below the 15 min floor: z is measured against the floor
    assert base["z"].iloc[-1] == pytest.approx((5.2 - 3.2) / (1.4826 * 0.25))
    assert base["days"].iloc[-1] == 28


def test_top_deviations_name_the_shift_in_plain_words() -> None:
    found = top_deviations(patient(), DAYS[-1], ("sleep_midpoint", "sleep_total", "activity_mean", "absent"))
    assert [d.biomarker for d in found] == ["activity_mean", "sleep_midpoint"]
    midpoint = found[1]
    assert isinstance(midpoint, Deviation) and midpoint.family == "sleep" and midpoint.unit == "h"
    assert midpoint.text == "sleep midpoint around 05:12, usually 03:12 (2 h 0 min later)"
    assert midpoint.days == 28
    # the activity level alternates 200/210: its spread of 5 is below the 5 % floor (10.25), so the
    # alternation stays inside the CUSUM's slack and the fall to 100 is a deviation, not a shift
    assert found[0].text == "activity mean 51% lower than this patient's usual"
    assert found[0].robust_z == pytest.approx(-105 / (1.4826 * 10.25))
    assert found[0].sustained_since is None and midpoint.sustained_since is None
    assert top_deviations(patient(), DAYS[20]) == []
    with pytest.raises(KeyError, match="2025-01-01"):
        top_deviations(patient(), pd.Timestamp("2025-01-01"))


def test_days_below_the_wear_threshold_are_neither_compared_nor_baseline_days() -> None:
    table = patient()
    table["coverage_activity"] = 1.0
    table.loc[DAYS[-1], "coverage_activity"] = MIN_COVERAGE - 0.01  # the watch came off on the last day
    found = top_deviations(table, DAYS[-1], ("sleep_midpoint", "activity_mean"))
    assert [d.biomarker for d in found] == ["sleep_midpoint"]  # sleep has no coverage column here: kept
    table.loc[DAYS[:22], "coverage_activity"] = 0.0  # only 7 worn days before the last: still a baseline
    table.loc[DAYS[-1], "coverage_activity"] = 1.0
    [activity] = top_deviations(table, DAYS[-1], ("activity_mean",))
    assert activity.days == 7
    table.loc[DAYS[22], "coverage_activity"] = 0.5  # six: too few
    assert top_deviations(table, DAYS[-1], ("activity_mean",)) == []


def test_describe_units() -> None:
    assert describe("sleep_total", "min", 300.0, 420.0) == "sleep total 2.0 h lower than this patient's usual"
    assert describe("sleep_waso", "min", 50.0, 30.0) == "sleep waso 20.0 min higher than this patient's usual"
    assert describe("sleep_onset", "h", -1.5, 0.0) == "sleep onset around 22:30, usually 00:00 (1 h 30 min earlier)"
    assert describe("sleep_midpoint", "h", 4.1667, 1.5) == (
        "sleep midpoint around 04:10, usually 01:30 (2 h 40 min later)")
    assert describe("m10_onset", "h", 9.0, 9.001) == "m10 onset around 09:00, usually 09:00 (at the usual time)"


def test_clock_times_are_compared_on_the_dial() -> None:
    past = np.array([[23.5], [0.5], [23.0], [1.0], [0.0], [23.75], [0.25]])  # nights around midnight
    [median] = compare(["sleep_midpoint"], np.array([1.5]), past).median
    assert median == 0.0  # a linear median of these numbers would be 1.0 h, the mean 10.3 h
    [z] = compare(["sleep_midpoint"], np.array([1.5]), past).z
    assert z == pytest.approx(1.5 / (1.4826 * 0.5))
    [z] = compare(["sleep_midpoint"], np.array([22.5]), past).z  # 22:30 is 1.5 h earlier, not 22.5 h later
    assert z == pytest.approx(-1.5 / (1.4826 * 0.5))
    assert arc(np.array([23.0, -23.0, 12.0, 11.99])).tolist() == pytest.approx([-1.0, 1.0, -12.0, 11.99])


@settings(max_examples=200, deadline=None)
@given(usual=st.floats(0, 24, exclude_max=True), shift=st.floats(-11.5, 11.5).filter(lambda s: abs(s) > 1.5),
       wrap=st.sampled_from([0.0, -24.0, 24.0]), seed=st.integers(0, 2**16))
def test_words_and_sign_never_contradict_across_midnight(usual: float, shift: float, wrap: float, seed: int) -> None:
    jitter = np.random.default_rng(seed).uniform(-0.3, 0.3, 14)
    past = np.mod(usual + jitter, 24.0)[:, None] + wrap * (np.arange(14) % 2)[:, None]  # the same times, any turn
    today = usual + shift
    base = compare(["sleep_midpoint"], np.array([today]), past)
    z, median = float(base.z[0]), float(base.median[0])
    [dev] = choose_deviations(dt.date(2024, 1, 1), ["sleep_midpoint"], base.values, base.z, base.median,
                              base.days, {"sleep_midpoint": ("sleep", "h")})
    true_shift = float(arc(today - median))
    assert np.sign(z) == np.sign(true_shift) and abs(true_shift) <= 12
    assert dev.text.startswith(f"sleep midpoint around {clock(today)}, usually {clock(median)} (")
    assert dev.text.split("(")[1].startswith(duration(true_shift))
    word = "later" if true_shift > 0 else "earlier"
    assert word in dev.text and ({"later", "earlier"} - {word}).pop() not in dev.text


def test_an_extreme_z_is_clipped_and_worded_not_quoted() -> None:
    past = np.full((10, 1), 0.5)  # an all-but-constant fraction: the floor, not a zero MAD, scales it
    base = compare(["activity_zero_fraction"], np.array([0.99]), past)
    assert base.z[0] == pytest.approx(0.49 / (1.4826 * 0.02))
    [dev] = choose_deviations(dt.date(2024, 1, 1), ["activity_zero_fraction"], base.values, base.z, base.median,
                              base.days, {"activity_zero_fraction": ("activity", "1")})
    assert dev.text.endswith("far outside this patient's usual range") and "16.5" not in dev.text
    big = compare(["activity_mean"], np.array([1e12]), np.full((10, 1), 1.0))
    assert big.z[0] == Z_LIMIT
    assert z_words(2.44) == "robust z +2.4" and z_words(-Z_WORDS - 0.1) == "far outside this patient's usual range"


def test_cusum_signals_a_sustained_shift_at_the_known_step() -> None:
    z = np.r_[np.tile([0.4, -0.4], 30), np.full(10, 2.0)]
    alarms = cusum(z, k=0.5, h=4.0)
    # each shifted step adds 2 − 0.5 = 1.5 to the upper sum: 1.5, 3.0, 4.5 > 4 on the third
    assert np.flatnonzero(alarms)[:1].tolist() == [62] and alarms[62] == 1
    assert np.flatnonzero(alarms).tolist() == [62, 65, 68]
    assert np.flatnonzero(cusum(-z)).tolist() == [62, 65, 68] and cusum(-z)[62] == -1


def test_one_outlying_day_never_signals_a_shift_but_two_high_days_do() -> None:
    calm = np.tile([0.4, -0.4], 10)
    assert not cusum(np.r_[calm, 40.0, calm]).any()  # clipped to 3: 2.5 over the slack, below h = 4
    assert np.flatnonzero(cusum(np.r_[calm, 3.5, 3.5])).tolist() == [21]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-0.49, 0.49) | st.just(float("nan")), min_size=1, max_size=200))
def test_cusum_never_fires_on_values_within_the_slack(values: list[float]) -> None:
    assert not cusum(np.array(values), k=0.5, h=4.0).any()


def test_a_persisting_shift_keeps_its_onset_across_repeated_signals() -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=k) for k in range(30)]
    z = [0.0] * 10 + [3.0] * 20  # the shift begins on 11 Jan and lasts
    state, last = Cusum(), None
    signals: list[Shift | None] = []
    for day, value in zip(days, z, strict=True):
        shift = track_shift(state, value, day, last)
        if shift is not last:
            signals.append(shift)
        last = shift
    assert len(signals) >= 5  # the sums restart after each signal, so it signals again and again
    assert {s.onset if s else None for s in signals} == {dt.date(2024, 1, 11)}


def test_a_shift_alone_is_worded_as_a_shift() -> None:
    day = dt.date(2024, 3, 10)
    shift = Shift(direction=1, onset=dt.date(2024, 3, 1), signalled=dt.date(2024, 3, 8))
    [dev] = choose_deviations(day, ["sleep_total"], np.array([410.0]), np.array([-0.5]), np.array([420.0]),
                              np.array([20]), {"sleep_total": ("sleep", "min")}, {"sleep_total": shift})
    assert dev.text == ("sleep total: a sustained shift higher since 01 Mar 2024 "
                        "(today within this patient's usual range)")
    assert dev.model_dump(mode="json")["sustained_since"] == "2024-03-01"
    plain = dev.model_copy(update={"sustained_since": None})
    assert "sustained_since" not in plain.model_dump(mode="json")  # hubs that predate the field accept it
