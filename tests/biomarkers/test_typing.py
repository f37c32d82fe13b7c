"""Typing cadence: sessions, inter-key delay statistics, speed, correction rates, night typing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.typing_cadence import KEY_CLASSES, TypingCadence
from mindbridge.datapoints import Kind, Series

T0 = np.datetime64("2024-04-10T00:00", "ns")


def _keys(offsets_s: np.ndarray, classes: list[str], tz: str = "UTC", start: np.datetime64 = T0) -> Series:
    times = start + (np.asarray(offsets_s, dtype=float) * 1e9).astype("timedelta64[ns]")
    return Series("k1", Kind.KEYSTROKE_EVENT, "keyboard", tz, times, {"key_class": np.asarray(classes)})


def test_two_sessions_known_answer() -> None:
    day1 = 9 * 3600 + 0.2 * np.arange(11)              # 11 letters 0.2 s apart at 09:00
    night = 86400 + 3600 + np.array([0.0, 0.5, 1.0, 1.2])  # next day 01:00: a, backspace, a, autocorrect
    s = _keys(np.r_[day1, night], ["alphanumeric"] * 11 + ["alphanumeric", "backspace", "alphanumeric",
                                                           "autocorrect"])
    day = TypingCadence().daily([s])
    assert day["typing_keys"].tolist() == [11.0, 3.0]
    assert day["typing_sessions"].tolist() == [1.0, 1.0]
    assert day["typing_active_time"].tolist() == pytest.approx([2.0 / 60, 1.0 / 60])
    assert day["inter_key_delay_median"].iloc[0] == pytest.approx(0.2)
    assert day["inter_key_delay_iqr"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(day["inter_key_delay_median"].iloc[1])  # no alphanumeric-to-alphanumeric pair at night
    assert day["typing_speed"].tolist() == pytest.approx([300.0, 120.0])
    assert day["backspace_rate"].tolist() == pytest.approx([0.0, 1 / 3])
    assert day["autocorrect_rate"].tolist() == pytest.approx([0.0, 1 / 3])
    assert day["typing_night_fraction"].tolist() == pytest.approx([0.0, 1.0])


def test_pauses_split_sessions_and_never_enter_delays() -> None:
    s = _keys(np.cumsum([0.0, 1, 2, 3, 4, 30, 1]), ["alphanumeric"] * 7)
    day = TypingCadence(session_gap_seconds=5).daily([s])
    delays = np.array([1.0, 2, 3, 4, 1])
    assert day["typing_sessions"].iloc[0] == 2.0
    assert day["inter_key_delay_median"].iloc[0] == pytest.approx(np.median(delays))
    q1, q3 = np.percentile(delays, [25, 75])
    assert day["inter_key_delay_iqr"].iloc[0] == pytest.approx(q3 - q1)
    assert day["typing_active_time"].iloc[0] == pytest.approx(delays.sum() / 60)


def test_days_follow_the_local_zone() -> None:
    # 23:30 UTC is 01:30 in Helsinki (UTC+3 in summer): the next local day, and night-time.
    s = _keys(np.array([23.5 * 3600, 23.5 * 3600 + 0.3]), ["alphanumeric"] * 2, tz="Europe/Helsinki")
    day = TypingCadence().daily([s])
    assert list(day.index.strftime("%Y-%m-%d")) == ["2024-04-11"]
    assert day["typing_night_fraction"].iloc[0] == 1.0


def test_unknown_key_class_is_refused() -> None:
    with pytest.raises(ValueError, match="key_class"):
        TypingCadence().daily([_keys(np.array([0.0, 1.0]), ["alphanumeric", "emoji"])])


def test_only_autocorrect_events_give_nan_rates_not_a_crash() -> None:
    day = TypingCadence().daily([_keys(np.array([0.0, 1.0]), ["autocorrect", "autocorrect"])])
    assert day["typing_keys"].iloc[0] == 0.0
    assert day[["typing_speed", "backspace_rate", "inter_key_delay_median"]].isna().all(axis=None)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="session_gap_seconds"):
        TypingCadence(session_gap_seconds=0)


_delays = st.lists(st.floats(0.05, 2.0), min_size=2, max_size=80)
_classes = st.lists(st.sampled_from(KEY_CLASSES[:4]), min_size=81, max_size=81)


@settings(max_examples=60, deadline=None)
@given(_delays, _classes, st.floats(0.5, 2.0))
def test_scaling_time_scales_delays_and_inverts_speed(delays: list[float], classes: list[str], c: float) -> None:
    offsets = 3600 * 10 + np.r_[0.0, np.cumsum(delays)]
    names = classes[: len(offsets)]
    a = TypingCadence().daily([_keys(offsets, names)])
    b = TypingCadence().daily([_keys(3600 * 10 + (offsets - 3600 * 10) * c, names)])
    for col in ("inter_key_delay_median", "inter_key_delay_iqr", "typing_active_time"):
        np.testing.assert_allclose(b[col], a[col] * c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b["typing_speed"], a["typing_speed"] / c, rtol=1e-6)
    pd.testing.assert_series_equal(a["backspace_rate"], b["backspace_rate"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4 * 86400 * 1000), min_size=1, max_size=200), st.integers(-20, 20), st.data())
def test_whole_day_shift_and_independent_median(offsets: list[int], shift: int, data: st.DataObject) -> None:
    t = np.sort(np.asarray(offsets)) / 1000
    names = data.draw(st.lists(st.sampled_from(KEY_CLASSES), min_size=len(t), max_size=len(t)))
    a = TypingCadence().daily([_keys(t, names)])
    b = TypingCadence().daily([_keys(t + 86400 * shift, names)])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert ((a[coverage_column("typing")] >= 0) & (a[coverage_column("typing")] <= 1)).all()
    # An independent pandas computation of the daily median alphanumeric delay.
    frame = pd.DataFrame({"t": _keys(t, names).time, "k": names})
    frame = frame[frame.k != "autocorrect"].reset_index(drop=True)
    gap = frame.t.diff().dt.total_seconds()
    pair = (gap <= 5) & (frame.k == "alphanumeric") & (frame.k.shift() == "alphanumeric")
    expected = gap[pair].groupby(frame.t[pair].dt.normalize()).median()
    got = a["inter_key_delay_median"].dropna()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert list(got.index) == list(expected.index)
