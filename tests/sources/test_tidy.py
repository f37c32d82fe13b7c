"""The shared validation step: every refusal is quarantined with its reason, nothing silently dropped."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mindbridge.datapoints import Kind
from mindbridge.sources.tidy import tidy


def _run(kind: Kind, times: list[str], values: list[float], ends: list[str] | None = None):  # type: ignore[no-untyped-def]
    t = np.array(times, dtype="datetime64[ns]")
    return tidy(file="f.csv", subject="s", kind=kind, source="dev", tz="UTC", time=t,
                columns={"value": np.array(values, dtype=float)},
                end=np.array(ends, dtype="datetime64[ns]") if ends is not None else None,
                where=lambda i: f"line {i + 2}", raw=lambda i: f"row{i}")


def test_duplicates_conflicts_and_order() -> None:
    series, stats = _run(Kind.HEART_RATE,
                         ["2020-01-01T00:02", "2020-01-01T00:00", "2020-01-01T00:01", "2020-01-01T00:01",
                          "2020-01-01T00:00"],
                         [62, 60, 61, 61, 65])
    assert list(series.values) == [60, 61, 62]
    assert stats.out_of_order == 4
    reasons = {r.where: r.reason for r in stats.rejected}
    assert reasons["line 5"].startswith("duplicate: same time and value as line 4")
    assert reasons["line 6"].startswith("conflicting duplicate: same time, different value as line 3")


def test_bounds_with_unit_hint_and_missing_values() -> None:
    series, stats = _run(Kind.HEART_RATE, ["2020-01-01T00:00", "2020-01-01T00:01", "2020-01-01T00:02", "NaT"],
                         [1.2, 70, float("nan"), 70])
    assert list(series.values) == [70]
    by_line = {r.where: r.reason for r in stats.rejected}
    assert "looks like Hz" in by_line["line 2"] and "72 /min" in by_line["line 2"]
    assert by_line["line 4"] == "missing value"
    assert by_line["line 5"] == "unparseable or missing timestamp"
    assert stats.rows_in == 4 and stats.rows_kept == 1


def test_overlapping_and_backwards_intervals() -> None:
    series, stats = _run(Kind.STEPS, ["2020-01-01T00:00", "2020-01-01T00:05", "2020-01-01T00:20",
                                      "2020-01-01T00:40"],
                         [10, 20, 30, 40],
                         ["2020-01-01T00:10", "2020-01-01T00:15", "2020-01-01T00:30", "2020-01-01T00:35"])
    assert list(series.values) == [10, 30]
    reasons = {r.where: r.reason for r in stats.rejected}
    assert reasons["line 3"] == "overlapping interval: starts before line 2 ends"
    assert reasons["line 5"] == "interval ends before it starts"


@given(st.lists(st.tuples(st.integers(0, 50), st.one_of(st.floats(-10, 300), st.just(float("nan")))), max_size=60))
def test_nothing_is_lost(rows: list[tuple[int, float]]) -> None:
    """Every input row is either kept or quarantined, once; kept rows are sorted, unique and in bounds."""
    times = [f"2020-01-01T00:{m:02d}" for m, _ in rows]
    series, stats = _run(Kind.HEART_RATE, times, [v for _, v in rows])
    assert stats.rows_kept + len(stats.rejected) == len(rows)
    assert len({r.where for r in stats.rejected}) == len(stats.rejected)
    assert np.all(np.diff(series.time.view(np.int64)) > 0)
    assert np.all((series.values >= 20) & (series.values <= 250))


def test_survey_items_sharing_a_time_are_not_duplicates() -> None:
    t = np.array(["2020-01-01T12:00"] * 3 + ["2020-01-01T11:00"], dtype="datetime64[ns]")
    items = np.array(["44250-9", "44255-8", "44250-9", "44250-9"], dtype=object)
    series, stats = tidy(file="s.csv", subject="s", kind=Kind.SURVEY_RESPONSE, source="app", tz="UTC", time=t,
                         columns={"value": np.array([1.0, 2.0, 3.0, 0.0]), "item": items},
                         where=lambda i: f"line {i + 2}", raw=lambda i: "")
    assert list(series.columns["item"]) == ["44250-9", "44250-9", "44255-8"]
    assert list(series.values) == [0.0, 1.0, 2.0]
    (refused,) = stats.rejected
    assert refused.where == "line 4" and refused.reason.startswith("conflicting duplicate")
