"""Wearable sleep: built nights with known answers (stages, episodes, DST, noon cut), SRI, properties, real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.registry import FAMILIES
from mindbridge.biomarkers.table import daily_table
from mindbridge.biomarkers.wearable_sleep import WearableSleep
from mindbridge.datapoints import Kind, Series
from mindbridge.sources.base import ReadContext
from mindbridge.sources.ingest import ingest

COVER = coverage_column("wearable_sleep")
H = np.timedelta64(3600, "s")


def stages(spans: list[tuple[str, str, str]], tz: str = "UTC", source: str = "watch") -> Series:
    """A SLEEP_STAGE series from (start, end, stage) with times in UTC."""
    start = np.array([a for a, _, _ in spans], "datetime64[ns]")
    end = np.array([b for _, b, _ in spans], "datetime64[ns]")
    return Series("p1", Kind.SLEEP_STAGE, source, tz, start, {"stage": np.array([c for *_, c in spans])}, end=end)


def episodes(spans: list[tuple[str, str, float, float]], tz: str = "UTC", source: str = "band") -> Series:
    """A SLEEP_EPISODE series from (start, end, minutes asleep, in_bed) with times in UTC."""
    start = np.array([s[0] for s in spans], "datetime64[ns]")
    end = np.array([s[1] for s in spans], "datetime64[ns]")
    cols = {"value": np.array([s[2] for s in spans], float), "in_bed": np.array([s[3] for s in spans], float)}
    return Series("p1", Kind.SLEEP_EPISODE, source, tz, start, cols, end=end)


def night(table: pd.DataFrame, day: str) -> pd.Series:
    """The row of one wake-up day."""
    return table.loc[pd.Timestamp(day)]


STAGED_NIGHT = [("2024-05-01T22:00", "2024-05-01T23:00", "light"), ("2024-05-01T23:00", "2024-05-01T23:10", "awake"),
                ("2024-05-01T23:10", "2024-05-02T02:00", "deep"), ("2024-05-02T02:00", "2024-05-02T06:00", "rem")]


def test_staged_night_crossing_midnight_with_in_bed_from_a_phone() -> None:
    bed = stages([("2024-05-01T21:30", "2024-05-02T06:30", "in_bed")], source="phone")
    row = night(WearableSleep().daily([stages(STAGED_NIGHT), bed]), "2024-05-02")
    assert (row["wsleep_onset"], row["wsleep_offset"], row["wsleep_midpoint"]) == pytest.approx((-2.0, 6.0, 2.0))
    assert row["wsleep_total"] == pytest.approx(60 + 170 + 240)
    assert row["wsleep_waso"] == pytest.approx(10)
    assert row["wsleep_efficiency"] == pytest.approx(470 / 480)
    assert row["wsleep_awakenings"] == 1
    assert row["wsleep_time_in_bed"] == pytest.approx(540)  # 21:30-06:30 adjoins the sleep period
    assert (row["wsleep_light"], row["wsleep_deep"], row["wsleep_rem"]) == pytest.approx((60, 170, 240))
    assert row["wsleep_deep_fraction"] == pytest.approx(170 / 470)
    assert row["wsleep_light_fraction"] + row["wsleep_deep_fraction"] + row["wsleep_rem_fraction"] == pytest.approx(1)
    assert row[COVER] == 1.0


def test_local_times_follow_the_zone() -> None:
    # 22:00-06:00 UTC is 00:00-08:00 in Europe/Oslo in May (UTC+2): the night's sleep starts at midnight.
    row = night(WearableSleep().daily([stages(STAGED_NIGHT, tz="Europe/Oslo")]), "2024-05-02")
    assert (row["wsleep_onset"], row["wsleep_offset"]) == pytest.approx((0.0, 8.0))
    row = night(WearableSleep().daily([stages(STAGED_NIGHT, tz="+09:00")]), "2024-05-02")  # 07:00-15:00
    assert (row["wsleep_onset"], row["wsleep_offset"]) == pytest.approx((7.0, 12.0))  # cut at local noon
    assert row["wsleep_total"] == pytest.approx(5 * 60 - 10)


@pytest.mark.parametrize(("start", "end", "wake_day", "real_minutes"), [
    ("2024-03-30T22:00", "2024-03-31T05:00", "2024-03-31", 7 * 60),  # 23:00 CET to 07:00 CEST: an hour lost
    ("2024-10-26T21:00", "2024-10-27T06:00", "2024-10-27", 9 * 60),  # 23:00 CEST to 07:00 CET: an hour gained
])
def test_daylight_saving_nights_keep_clock_times_and_real_durations(start: str, end: str, wake_day: str,
                                                                    real_minutes: int) -> None:
    row = night(WearableSleep().daily([stages([(start, end, "asleep")], tz="Europe/Oslo")]), wake_day)
    assert (row["wsleep_onset"], row["wsleep_offset"], row["wsleep_midpoint"]) == pytest.approx((-1.0, 7.0, 3.0))
    assert row["wsleep_total"] == pytest.approx(real_minutes)
    assert row["wsleep_waso"] == 0 and row["wsleep_efficiency"] == 1.0
    assert np.isnan(row["wsleep_deep"])  # unspecified sleep carries no stages


@pytest.mark.parametrize(("gap", "merged"), [(59, True), (60, False)])
def test_bouts_merge_across_gaps_shorter_than_an_hour(gap: int, merged: bool) -> None:
    second = np.datetime64("2024-05-02T01:00") + np.timedelta64(gap, "m")
    series = stages([("2024-05-01T23:00", "2024-05-02T01:00", "asleep"),
                     (str(second), str(second + np.timedelta64(180, "m")), "asleep")])
    row = night(WearableSleep().daily([series]), "2024-05-02")
    if merged:
        assert row["wsleep_total"] == 300 and row["wsleep_waso"] == gap and row["wsleep_awakenings"] == 1
        assert row["wsleep_onset"] == -1.0
    else:  # the longer bout is the main period
        assert row["wsleep_total"] == 180 and row["wsleep_waso"] == 0 and row["wsleep_awakenings"] == 0
        assert row["wsleep_onset"] == pytest.approx(2.0)


def test_noon_cut_puts_an_afternoon_nap_in_the_next_night() -> None:
    series = stages([("2024-05-01T23:00", "2024-05-02T07:00", "asleep"),
                     ("2024-05-02T13:00", "2024-05-02T14:30", "asleep"),   # nap: night ending 3 May
                     ("2024-05-03T00:00", "2024-05-03T06:00", "asleep")])
    table = WearableSleep().daily([series])
    assert list(table.index.strftime("%Y-%m-%d")) == ["2024-05-02", "2024-05-03"]
    assert table["wsleep_total"].tolist() == [480, 360]
    assert table["wsleep_onset"].tolist() == [-1.0, 0.0]


def test_a_staging_device_wins_over_a_coarser_record() -> None:
    phone = stages([("2024-05-01T23:00", "2024-05-02T07:00", "asleep")], source="phone")
    watch = stages([("2024-05-01T23:00", "2024-05-02T03:00", "light"),
                    ("2024-05-02T03:00", "2024-05-02T03:20", "awake"),
                    ("2024-05-02T03:20", "2024-05-02T07:00", "deep")], source="watch")
    row = night(WearableSleep().daily([phone, watch]), "2024-05-02")
    assert row["wsleep_total"] == 460 and row["wsleep_waso"] == 20 and row["wsleep_awakenings"] == 1
    assert (row["wsleep_light"], row["wsleep_deep"], row["wsleep_rem"]) == (240, 220, 0)


def test_gaps_between_sleep_records_are_wake_and_in_bed_alone_gives_no_row() -> None:
    series = stages([("2024-05-01T23:00", "2024-05-02T02:00", "asleep"),
                     ("2024-05-02T02:30", "2024-05-02T06:00", "asleep"),
                     ("2024-05-03T22:00", "2024-05-04T06:00", "in_bed")])
    table = WearableSleep().daily([series])
    assert list(table.index.strftime("%Y-%m-%d")) == ["2024-05-02"]
    row = table.iloc[0]
    assert row["wsleep_waso"] == 30 and row["wsleep_awakenings"] == 1
    assert row[COVER] == pytest.approx(390 / 420)  # the 30-min gap holds no record


def test_a_night_of_awake_records_has_zero_sleep_and_no_times() -> None:
    row = WearableSleep().daily([stages([("2024-05-01T23:00", "2024-05-02T06:00", "awake")])]).iloc[0]
    assert row["wsleep_total"] == 0 and np.isnan(row["wsleep_onset"]) and np.isnan(row["wsleep_efficiency"])
    assert row[COVER] == 1.0


def test_bed_episode_gives_its_minutes_asleep_and_window_totals_give_only_totals() -> None:
    series = episodes([("2024-05-01T23:00", "2024-05-02T07:00", 420.0, 1.0),
                       ("2024-05-03T00:00", "2024-05-04T00:00", 400.0, np.nan)])  # a day's sleep total
    table = WearableSleep().daily([series])
    bed, window = night(table, "2024-05-02"), night(table, "2024-05-04")
    assert (bed["wsleep_onset"], bed["wsleep_offset"]) == (-1.0, 7.0)
    assert (bed["wsleep_total"], bed["wsleep_waso"], bed["wsleep_time_in_bed"]) == (420, 60, 480)
    assert bed["wsleep_efficiency"] == pytest.approx(0.875)
    assert np.isnan(bed["wsleep_awakenings"]) and np.isnan(bed["wsleep_deep"]) and bed[COVER] == 1.0
    assert window["wsleep_total"] == 400 and window[COVER] == 0.0
    assert window[["wsleep_onset", "wsleep_waso", "wsleep_efficiency"]].isna().all()


def test_one_episode_source_per_night_and_stages_first() -> None:
    band = episodes([("2024-05-01T23:00", "2024-05-02T07:00", 400.0, 1.0),
                     ("2024-05-02T23:00", "2024-05-03T07:00", 300.0, 1.0)], source="band")
    ring = episodes([("2024-05-01T22:00", "2024-05-02T06:00", 450.0, 1.0),
                     ("2024-05-02T23:30", "2024-05-03T07:00", 200.0, 1.0)], source="ring")
    watch = stages([("2024-05-03T23:00", "2024-05-04T05:00", "deep")])
    late = episodes([("2024-05-03T22:00", "2024-05-04T07:00", 500.0, 1.0)], source="late")
    table = WearableSleep().daily([band, ring, watch, late])
    assert table["wsleep_total"].tolist() == [450, 300, 360]
    assert table["wsleep_onset"].tolist() == [-2.0, -1.0, -1.0]


def test_missing_episode_value_leaves_sleep_time_missing() -> None:
    row = WearableSleep().daily([episodes([("2024-05-01T23:00", "2024-05-02T07:00", np.nan, 1.0)])]).iloc[0]
    assert np.isnan(row["wsleep_total"]) and np.isnan(row["wsleep_efficiency"])
    assert row["wsleep_onset"] == -1.0  # the bed period itself is known


def _repeat_nights(schedule: list[tuple[int, int]], days: int) -> Series:
    """Sleep from hour a to hour b (relative to each wake-up day's midnight), cycling through `schedule`."""
    base = np.datetime64("2024-05-01T00:00", "ns")
    spans = []
    for d in range(days):
        a, b = schedule[d % len(schedule)]
        wake = base + np.timedelta64(d, "D")
        spans.append((str(wake + a * H), str(wake + b * H), "asleep"))
    return stages(spans)


def test_sleep_regularity_index_known_answers() -> None:
    regular = WearableSleep().daily([_repeat_nights([(-1, 7)], 12)])
    assert regular["wsleep_regularity_index"].iloc[8] == pytest.approx(100.0)
    # Alternating 23-07 and 03-11: 8 of every 24 hours differ between consecutive days.
    shifted = WearableSleep().daily([_repeat_nights([(-1, 7), (3, 11)], 12)])
    assert shifted["wsleep_regularity_index"].iloc[8] == pytest.approx(200 * 16 / 24 - 100)
    assert np.isnan(shifted["wsleep_regularity_index"].iloc[0])  # no earlier day to compare with


def test_empty_and_bad_input() -> None:
    none = stages([])
    table = WearableSleep().daily([none])
    assert table.empty and list(table.columns)[-1] == COVER
    with pytest.raises(ValueError, match=r"column 'stage' holds \['dozing'\]"):
        WearableSleep().daily([stages([("2024-05-01T23:00", "2024-05-02T07:00", "dozing")])])


def test_feature_names_are_unique_across_families() -> None:
    names = [f.name for fam in FAMILIES for f in fam.features]
    assert len(names) == len(set(names))
    assert any(isinstance(fam, WearableSleep) for fam in FAMILIES)


# --- properties -------------------------------------------------------------------------------------------

STAGE_NAMES = ["awake", "asleep", "light", "deep", "rem", "in_bed"]


@st.composite
def stage_records(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """Back-to-back or gapped stage records over a few days, minute resolution, some of zero length."""
    t = np.datetime64("2024-05-01T18:00")
    out = []
    for _ in range(draw(st.integers(1, 25))):
        t = t + np.timedelta64(draw(st.integers(0, 600)), "m")
        end = t + np.timedelta64(draw(st.integers(0, 400)), "m")
        out.append((str(t), str(end), draw(st.sampled_from(STAGE_NAMES))))
        t = end
    return out


@settings(max_examples=40, deadline=None)
@given(stage_records(), st.integers(-30, 30))
def test_shifting_every_record_by_whole_days_shifts_the_table(records: list[tuple[str, str, str]], k: int) -> None:
    table = WearableSleep().daily([stages(records, tz="Asia/Tokyo")])
    moved = [(str(np.datetime64(a) + np.timedelta64(k, "D")), str(np.datetime64(b) + np.timedelta64(k, "D")), s)
             for a, b, s in records]
    shifted = WearableSleep().daily([stages(moved, tz="Asia/Tokyo")])
    assert shifted.index.equals(table.index + pd.Timedelta(days=k))
    pd.testing.assert_frame_equal(shifted.set_axis(table.index), table, check_exact=False, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(stage_records(), st.data())
def test_splitting_records_between_sources_changes_nothing(records: list[tuple[str, str, str]],
                                                          data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(records)))
    whole = WearableSleep().daily([stages(records)])
    parts = [stages(r, source=name) for r, name in ((records[:cut], "a"), (records[cut:], "b")) if r]
    pd.testing.assert_frame_equal(WearableSleep().daily(parts), whole)


@settings(max_examples=60, deadline=None)
@given(stage_records())
def test_nightly_values_obey_their_definitions(records: list[tuple[str, str, str]]) -> None:
    table = WearableSleep().daily([stages(records)])
    timed = table.dropna(subset=["wsleep_onset"])
    span = (timed["wsleep_offset"] - timed["wsleep_onset"]) * 60
    np.testing.assert_allclose(timed["wsleep_total"] + timed["wsleep_waso"], span, atol=1e-6)
    assert (timed["wsleep_time_in_bed"] >= span - 1e-6).all()
    assert ((timed["wsleep_efficiency"] > 0) & (timed["wsleep_efficiency"] <= 1)).all()
    assert (timed["wsleep_onset"] >= -12).all() and (timed["wsleep_offset"] <= 12).all()
    stage_sum = timed[["wsleep_deep", "wsleep_rem", "wsleep_light"]].sum(axis=1)
    assert (stage_sum <= timed["wsleep_total"] + 1e-6).all()
    assert table[COVER].between(0, 1).all()
    sri = table["wsleep_regularity_index"].dropna()
    assert sri.between(-100, 100).all()


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1440), st.integers(1, 16 * 60))
def test_a_bed_episode_reports_its_value_capped_at_its_length(value: float, minutes: int) -> None:
    end = np.datetime64("2024-05-01T20:00") + np.timedelta64(minutes, "m")
    row = WearableSleep().daily([episodes([("2024-05-01T20:00", str(end), value, 1.0)])]).iloc[0]
    assert row["wsleep_total"] == pytest.approx(min(value, minutes))
    assert row["wsleep_waso"] == pytest.approx(minutes - min(value, minutes))


# --- real files through the readers -------------------------------------------------------------------------

APPLE_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
]>
<HealthData locale="en_US">
 <ExportDate value="2024-03-12 10:00:00 -0400"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1980-01-01"/>"""


def _apple_sleep(start: str, end: str, value: str, source: str) -> str:
    return (f' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="{source}" creationDate="{end}" '
            f'startDate="{start}" endDate="{end}" value="HKCategoryValueSleepAnalysis{value}"/>')


def test_apple_health_export_end_to_end(tmp_path: Path) -> None:
    # The night of the US spring change (10 March 2024, 02:00 EST -> 03:00 EDT), written as Apple writes it.
    records = [
        _apple_sleep("2024-03-09 22:40:00 -0500", "2024-03-10 07:15:00 -0400", "InBed", "Jane’s iPhone"),
        _apple_sleep("2024-03-09 23:00:00 -0500", "2024-03-10 00:30:00 -0500", "AsleepCore", "Jane’s Watch"),
        _apple_sleep("2024-03-10 00:30:00 -0500", "2024-03-10 01:30:00 -0500", "AsleepDeep", "Jane’s Watch"),
        _apple_sleep("2024-03-10 01:30:00 -0500", "2024-03-10 01:45:00 -0500", "Awake", "Jane’s Watch"),
        _apple_sleep("2024-03-10 01:45:00 -0500", "2024-03-10 04:00:00 -0400", "AsleepREM", "Jane’s Watch"),
        _apple_sleep("2024-03-10 04:00:00 -0400", "2024-03-10 07:00:00 -0400", "AsleepCore", "Jane’s Watch"),
    ]
    path = tmp_path / "export.xml"
    path.write_text("\n".join([APPLE_HEAD, *records, "</HealthData>"]) + "\n", encoding="utf-8")
    report = ingest([path], ReadContext(tz="America/New_York", subject="jane"))
    assert not report.rejected
    table = daily_table(report.series)
    row = night(table, "2024-03-10")
    assert row["subject"] == "jane"
    assert (row["wsleep_onset"], row["wsleep_offset"]) == pytest.approx((-1.0, 7.0))
    # 23:00 EST to 07:00 EDT is 7 real hours, 15 minutes of them awake.
    assert row["wsleep_total"] == pytest.approx(7 * 60 - 15)
    assert row["wsleep_waso"] == 15 and row["wsleep_awakenings"] == 1
    assert (row["wsleep_light"], row["wsleep_deep"], row["wsleep_rem"]) == pytest.approx((270, 60, 75))
    assert row["wsleep_time_in_bed"] == pytest.approx(7 * 60 + 35)  # 22:40 EST to 07:15 EDT
    assert row[COVER] == 1.0


def test_open_mhealth_sleep_episode_conformance_document(openmhealth_dir: Path) -> None:
    doc = openmhealth_dir / "test-data" / "omh" / "sleep-episode" / "1.1" / "shouldPass" / "valid-sleep-episode.json"
    report = ingest([doc], ReadContext(subject="omh"))
    row = WearableSleep().daily(report.series).iloc[0]
    # The document: 21:35Z for 9 h, total_sleep_time 8.5 h.
    assert row.name == pd.Timestamp("2016-02-06")
    assert (row["wsleep_onset"], row["wsleep_offset"]) == pytest.approx((-(2 + 25 / 60), 6 + 35 / 60))
    assert (row["wsleep_total"], row["wsleep_time_in_bed"], row["wsleep_waso"]) == pytest.approx((510, 540, 30))
