"""Phone use: screen periods split at midnight and DST, night use, call and message counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.phone import PhoneUse
from mindbridge.datapoints import Kind, Series


def _series(kind: Kind, tz: str, times: list[str], **columns: list) -> Series:
    """A series from local wall-clock ISO strings in zone `tz`."""
    utc = pd.DatetimeIndex(times).tz_localize(tz).tz_convert("UTC").tz_localize(None)
    return Series("p1", kind, "phone", tz, utc.to_numpy("datetime64[ns]"),
                  {k: np.asarray(v) for k, v in columns.items()})


def _screen(tz: str, *events: tuple[str, str]) -> Series:
    return _series(Kind.SCREEN_EVENT, tz, [t for t, _ in events], event=[e for _, e in events])


def test_screen_period_across_midnight_is_split_and_night_counted() -> None:
    s = _screen("Europe/Oslo", ("2024-05-01 23:30", "on"), ("2024-05-01 23:31", "unlock"),
                ("2024-05-02 00:30", "off"), ("2024-05-02 12:00", "on"), ("2024-05-02 12:10", "off"))
    day = PhoneUse().daily([s])
    assert list(day.index.strftime("%Y-%m-%d")) == ["2024-05-01", "2024-05-02"]
    assert day["screen_on_time"].tolist() == pytest.approx([30.0, 40.0])
    assert day["screen_on_night"].tolist() == pytest.approx([0.0, 30.0])
    assert day["screen_sessions"].tolist() == [1.0, 1.0]
    assert day["unlocks"].tolist() == [1.0, 0.0]
    assert day["calls_incoming"].isna().all()
    assert day["messages_outgoing"].isna().all()


def test_repeated_on_events_unclosed_and_overlong_periods() -> None:
    s = _screen("UTC", ("2024-01-01 08:00", "on"), ("2024-01-01 08:05", "unlock"), ("2024-01-01 08:07", "on"),
                ("2024-01-01 08:20", "off"), ("2024-01-01 08:25", "off"),
                ("2024-01-01 09:00", "on"), ("2024-01-01 14:00", "off"),   # 5 h: a lost `off`, not counted
                ("2024-01-01 20:00", "unlock"))                           # never closed
    day = PhoneUse().daily([s])
    assert day["screen_on_time"].iloc[0] == pytest.approx(20.0)
    assert day["screen_sessions"].iloc[0] == 1.0
    assert day["unlocks"].iloc[0] == 2.0
    assert PhoneUse(max_screen_on_hours=6).daily([s])["screen_on_time"].iloc[0] == pytest.approx(320.0)


def test_spring_forward_night_is_five_real_hours() -> None:
    # Oslo, 2024-03-31: 02:00 local jumps to 03:00, so 00:00-06:00 holds five hours.
    s = _screen("Europe/Oslo", ("2024-03-31 00:00", "on"), ("2024-03-31 06:00", "off"),
                ("2024-03-31 23:59", "on"), ("2024-03-31 23:59", "off"))
    day = PhoneUse(max_screen_on_hours=8).daily([s])
    assert day["screen_on_night"].iloc[0] == pytest.approx(300.0)
    assert day["screen_on_time"].iloc[0] == pytest.approx(300.0)
    assert day[coverage_column("phone")].iloc[0] == pytest.approx((23 * 60 - 1) / (23 * 60))


def test_calls_and_messages_count_by_direction() -> None:
    calls = _series(Kind.CALL_EVENT, "UTC", ["2024-02-01 09:00", "2024-02-01 10:00", "2024-02-01 11:00",
                                             "2024-02-03 02:00"],
                    duration=[120.0, 30.0, 0.0, 600.0], direction=["incoming", "OUTGOING", "missed", "outgoing"])
    msgs = _series(Kind.MESSAGE_EVENT, "UTC", ["2024-02-02 12:00", "2024-02-02 13:00"],
                   direction=["incoming", "incoming"])
    day = PhoneUse().daily([calls, msgs])
    assert len(day) == 3  # the silent day inside the recording is a row of zeros, not a gap
    assert day["calls_incoming"].tolist() == [1.0, 0.0, 0.0]
    assert day["calls_outgoing"].tolist() == [1.0, 0.0, 1.0]
    assert day["calls_missed"].tolist() == [1.0, 0.0, 0.0]
    assert day["call_minutes"].tolist() == pytest.approx([2.5, 0.0, 10.0])
    assert day["messages_incoming"].tolist() == [0.0, 2.0, 0.0]
    assert day["screen_on_time"].isna().all()


def test_unknown_event_value_names_the_column() -> None:
    s = _screen("UTC", ("2024-01-01 08:00", "on"), ("2024-01-01 08:05", "dozing"))
    with pytest.raises(ValueError, match=r"column 'event' holds \['dozing'\]"):
        PhoneUse().daily([s])


def test_missing_direction_column_is_refused() -> None:
    s = _series(Kind.CALL_EVENT, "UTC", ["2024-01-01 08:00"], duration=[3.0])
    with pytest.raises(ValueError, match="'direction' is missing"):
        PhoneUse().daily([s])


def test_no_input_gives_an_empty_table_with_every_column() -> None:
    day = PhoneUse().daily([])
    assert day.empty and {f.name for f in PhoneUse.features} <= set(day.columns)


_events = st.lists(st.tuples(st.integers(0, 5 * 86400), st.sampled_from(["on", "off", "unlock"])),
                   min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(_events, st.integers(-30, 30))
def test_shifting_by_whole_days_only_shifts_the_index(events: list[tuple[int, str]], shift: int) -> None:
    events.sort()
    t0 = np.datetime64("2024-06-01T00:00", "ns")

    def build(days: int) -> Series:
        times = t0 + np.array([s for s, _ in events], "timedelta64[s]") + np.timedelta64(days, "D")
        return Series("p1", Kind.SCREEN_EVENT, "phone", "UTC", times.astype("datetime64[ns]"),
                      {"event": np.array([e for _, e in events])})

    a, b = PhoneUse().daily([build(0)]), PhoneUse().daily([build(shift)])
    assert (b.index - a.index == pd.Timedelta(days=shift)).all()
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert (a["screen_on_night"] <= a["screen_on_time"] + 1e-9).all()
    assert (a["screen_on_time"] <= 24 * 60).all()
    cov = a[coverage_column("phone")]
    assert ((cov >= 0) & (cov <= 1)).all()
