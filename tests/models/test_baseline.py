"""Personal baseline (trailing median/MAD), CUSUM, and plain-words top deviations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.models.baseline import cusum, rolling_baseline, top_deviations
from mindbridge.models.robust import Cusum, Shift, choose_deviations, describe, track_shift
from mindbridge.summary import Deviation

DAYS = pd.date_range("2024-01-01", periods=30, freq="D", name="date")


def patient() -> pd.DataFrame:
    """A steady patient (midpoint alternating 3.0/3.2 h, 420/440 min sleep) whose last day shifts."""
    alt = np.arange(30) % 2
    table = pd.DataFrame({"sleep_midpoint": 3.0 + 0.2 * alt, "sleep_total": 420.0 + 20 * alt,
                          "activity_mean": 200.0 + 10 * alt}, index=DAYS)
    table.iloc[-1] = [5.2, 430.0, 100.0]
    return table


def test_rolling_baseline_excludes_the_day_and_knows_its_answer() -> None:
    base = rolling_baseline(patient()["sleep_midpoint"], window=28, min_days=7)
    assert base["median"].iloc[:7].isna().all()
    assert base["median"].iloc[-1] == pytest.approx(3.1)
    assert base["mad"].iloc[-1] == pytest.approx(0.1)
    assert base["z"].iloc[-1] == pytest.approx((5.2 - 3.1) / (1.4826 * 0.1))


def test_top_deviations_name_the_shift_in_plain_words() -> None:
    found = top_deviations(patient(), DAYS[-1], ("sleep_midpoint", "sleep_total", "activity_mean", "absent"))
    assert [d.biomarker for d in found] == ["activity_mean", "sleep_midpoint"]
    midpoint = found[1]
    assert isinstance(midpoint, Deviation) and midpoint.family == "sleep" and midpoint.unit == "h"
    assert midpoint.text == "sleep midpoint 2.1 h later than this patient's usual"
    assert midpoint.days == 28
    # a mean 0.67 below usual every other day accumulates in the lower CUSUM; today's fall completes the signal
    assert found[0].text == ("activity mean 51% lower than this patient's usual; "
                             "a sustained shift lower since 09 Jan 2024")
    assert found[0].sustained_since == dt.date(2024, 1, 9) and midpoint.sustained_since is None
    assert top_deviations(patient(), DAYS[20]) == []
    with pytest.raises(KeyError, match="2025-01-01"):
        top_deviations(patient(), pd.Timestamp("2025-01-01"))


def test_describe_units() -> None:
    assert describe("sleep_total", "min", 300.0, 420.0) == "sleep total 2.0 h lower than this patient's usual"
    assert describe("sleep_waso", "min", 50.0, 30.0) == "sleep waso 20.0 min higher than this patient's usual"
    assert describe("sleep_onset", "h", -1.5, 0.0) == "sleep onset 1.5 h earlier than this patient's usual"


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
