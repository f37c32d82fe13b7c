"""Generic CSV reader with a mapping file: known answers per kind, time zones, units, bad mappings, round trips."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mindbridge.cli import app
from mindbridge.datapoints import Kind, Series
from mindbridge.sources.base import ReadContext, ReadResult
from mindbridge.sources.ingest import ingest, read_file
from mindbridge.sources.mapped_csv import MappedCsv
from mindbridge.sources.mapping import FOLDER_MAPPING, MappingError, load_mapping, parse_mapping
from mindbridge.sources.registry import sniff
from mindbridge.sources.store import Store


def write(folder: Path, name: str, text: str) -> Path:
    """A file with dedented text."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def read(csv: Path, mapping: Path | None = None, **ctx: str) -> ReadResult:
    """Read a CSV through the registry with an optional --mapping."""
    got = read_file(csv, ReadContext(mappings=(mapping,) if mapping else (), **ctx))
    assert isinstance(got, ReadResult), got
    return got


def by_kind(result: ReadResult, kind: Kind) -> list[Series]:
    """Series of one kind, ordered by subject and source."""
    return sorted((s for s in result.series if s.kind is kind), key=lambda s: (s.subject, s.source))


def utc(*stamps: str) -> list[np.datetime64]:
    """UTC nanosecond datetimes from ISO strings."""
    return [np.datetime64(s, "ns") for s in stamps]


HR_MAPPING = """
    time: {column: time, format: "%Y-%m-%d %H:%M:%S"}
    timezone: Europe/Oslo
    source: Polar H10
    values:
      - kind: heart_rate
        columns: {value: hr}
        units: {value: Hz}
    """


def test_heart_rate_in_hz_across_both_dst_changes(tmp_path: Path) -> None:
    mapping = write(tmp_path, "hr.yaml", HR_MAPPING)
    csv = write(tmp_path, "p01.csv", """
        time,hr,ignored
        2019-03-31 01:30:00,1.0,x
        2019-03-31 02:30:00,1.1,x
        2019-03-31 03:30:00,1.2,x
        2019-10-27 02:15:00,1.25,x
        2019-10-27 02:45:00,1.3,x
        2019-10-27 02:15:00,1.35,x
        2019-10-27 02:45:00,1.4,x
        """)
    result = read(csv, mapping)
    (hr,) = by_kind(result, Kind.HEART_RATE)
    assert (hr.subject, hr.source, hr.tz) == ("p01", "Polar H10", "Europe/Oslo")
    assert hr.values.tolist() == pytest.approx([60, 72, 75, 78, 81, 84])
    assert hr.time.tolist() == [t.item() for t in utc("2019-03-31T00:30", "2019-03-31T01:30", "2019-10-27T00:15",
                                                      "2019-10-27T00:45", "2019-10-27T01:15", "2019-10-27T01:45")]
    (gap,) = result.rejected
    assert gap.where == "line 3" and "daylight-saving" in gap.reason and gap.raw.startswith("2019-03-31 02:30:00")


def test_keystrokes_in_epoch_ms_split_by_subject_column(tmp_path: Path) -> None:
    mapping = write(tmp_path, "keys.yaml", """
        time: {column: ts_ms, format: epoch_ms}
        timezone: America/New_York
        subject_column: user
        source: keyboard app
        values:
          - kind: keystroke_event
            columns: {key_class: key}
        """)
    csv = write(tmp_path, "keys.csv", """
        user,ts_ms,key
        u1,1546300800000,alphanumeric
        u2,1546300801000,alphanumeric
        u1,1546300800250,backspace
        u1,soon,backspace
        """)
    result = read(csv, mapping)
    assert [(r.where, r.reason) for r in result.rejected] == [("line 5", "field 'ts_ms': cannot read 'soon' as float")]
    u1, u2 = by_kind(result, Kind.KEYSTROKE_EVENT)
    assert (u1.subject, u2.subject) == ("u1", "u2")
    assert u1.columns["key_class"].tolist() == ["alphanumeric", "backspace"]
    assert u1.time.tolist() == [t.item() for t in utc("2019-01-01T00:00:00", "2019-01-01T00:00:00.250")]
    assert u1.tz == "America/New_York" and u1.local_date()[0] == np.datetime64("2018-12-31")
    assert len(u2) == 1


def test_gps_fixes_with_an_offset_column_and_unit(tmp_path: Path) -> None:
    mapping = write(tmp_path, "gps.yaml", """
        time: {column: local}
        timezone_column: offset
        source: phone GPS
        values:
          - kind: gps_fix
            columns: {latitude: lat, longitude: lon, accuracy: acc_ft}
            units: {accuracy: ft}
        """)
    csv = write(tmp_path, "gps.csv", """
        local,offset,lat,lon,acc_ft
        2019-06-01T08:00:00,+02:00,59.91,10.75,10
        2019-06-01T09:00:00,+0200,59.92,10.76,20
        2019-06-02T09:00:00,-04:00,40.71,-74.0,30
        2019-06-02T10:00:00,bogus,40.71,-74.0,30
        """)
    result = read(csv, mapping)
    (gps,) = by_kind(result, Kind.GPS_FIX)
    assert gps.time.tolist() == [t.item() for t in utc("2019-06-01T06:00", "2019-06-01T07:00", "2019-06-02T13:00")]
    assert gps.columns["latitude"].tolist() == [59.91, 59.92, 40.71]
    assert gps.columns["accuracy"].tolist() == pytest.approx([3.048, 6.096, 9.144])
    assert gps.tz == "+02:00"
    assert any("offsets vary" in n for n in result.notes)
    (bad,) = result.rejected
    assert bad.where == "line 5" and bad.reason == "unreadable UTC offset in column 'offset'"


def test_screen_events_with_iso_offsets_and_no_zone(tmp_path: Path) -> None:
    mapping = write(tmp_path, "screen.yaml", """
        time: {column: when}
        values:
          - kind: screen_event
            columns: {event: what}
        """)
    csv = write(tmp_path, "screen.csv", """
        when,what
        2019-01-01T23:59:00+01:00,unlock
        2019-01-01T23:00:00Z,on
        not a time,off
        2019-01-02T00:10:00+01:00,
        """)
    result = read(csv, mapping)
    (screen,) = by_kind(result, Kind.SCREEN_EVENT)
    assert screen.columns["event"].tolist() == ["unlock", "on"]
    assert screen.time.tolist() == [t.item() for t in utc("2019-01-01T22:59", "2019-01-01T23:00")]
    assert screen.tz == "UTC" and screen.source == "csv"
    why = {r.where: r.reason for r in result.rejected}
    assert why == {"line 4": "unparseable or missing time in column 'when'",
                   "line 5": "no value in any mapped column"}


def test_survey_wide_items_and_long_items(tmp_path: Path) -> None:
    wide = write(tmp_path, "wide.yaml", """
        time: {column: date, format: "%Y-%m-%d"}
        timezone: Europe/London
        source: PHQ-9 app
        values:
          - {kind: survey_response, columns: {value: q1}, fixed: {item: phq9_1}}
          - {kind: survey_response, columns: {value: q2}, fixed: {item: phq9_2}}
        """)
    csv = write(tmp_path, "phq.csv", """
        date,q1,q2
        2019-01-07,2,3
        2019-01-14,1,
        """)
    (phq,) = by_kind(read(csv, wide), Kind.SURVEY_RESPONSE)
    assert phq.source == "PHQ-9 app"
    answers = list(zip(phq.local_date().astype(str).tolist(), phq.columns["item"].tolist(), phq.values.tolist(),
                       strict=True))
    assert answers == [("2019-01-07", "phq9_1", 2), ("2019-01-07", "phq9_2", 3), ("2019-01-14", "phq9_1", 1)]
    long = write(tmp_path, "long.yaml", """
        time: {column: date, format: "%Y-%m-%d"}
        timezone: Europe/London
        values:
          - {kind: survey_response, columns: {value: score, item: question}}
        """)
    csv = write(tmp_path, "ema.csv", """
        date,question,score
        2019-01-07,mood,4
        2019-01-07,sleep,2
        2019-01-08,mood,5
        """)
    (ema,) = by_kind(read(csv, long), Kind.SURVEY_RESPONSE)
    assert ema.source == "csv"
    assert list(zip(ema.columns["item"].tolist(), ema.values.tolist(), strict=True)) == [
        ("mood", 4), ("sleep", 2), ("mood", 5)]


def test_interval_kinds_with_end_column_or_fixed_epoch(tmp_path: Path) -> None:
    fixed = write(tmp_path, "steps.yaml", """
        time: {column: t, format: epoch_s}
        epoch_seconds: 60
        timezone: UTC
        values:
          - {kind: steps, columns: {value: n}}
        """)
    csv = write(tmp_path, "steps.csv", "t,n\n0,10\n60,12\n90,5\n")
    result = read(csv, fixed)
    (steps,) = by_kind(result, Kind.STEPS)
    assert steps.values.tolist() == [10, 12]
    assert steps.end is not None and steps.end[1] == np.datetime64("1970-01-01T00:02", "ns")
    (overlap,) = result.rejected
    assert overlap.where == "line 4" and overlap.reason.startswith("overlapping interval")
    ended = write(tmp_path, "sleep.yaml", """
        time: {column: start, format: "%Y-%m-%d %H:%M"}
        end: {column: stop, format: "%Y-%m-%d %H:%M"}
        timezone: Europe/Oslo
        values:
          - {kind: sleep_stage, columns: {stage: stage}}
        """)
    csv = write(tmp_path, "sleep.csv", "start,stop,stage\n2019-01-01 23:00,2019-01-02 01:00,light\n"
                                       "2019-01-02 01:00,2019-01-02 00:30,deep\n")
    result = read(csv, ended)
    (sleep,) = by_kind(result, Kind.SLEEP_STAGE)
    assert sleep.end is not None and sleep.end.tolist() == [np.datetime64("2019-01-02T00:00", "ns").item()]
    assert [r.reason for r in result.rejected] == ["interval ends before it starts"]


def test_bad_numbers_and_bounds_quarantined_with_lines(tmp_path: Path) -> None:
    mapping = write(tmp_path, "hr.yaml", HR_MAPPING.replace("units: {value: Hz}", "units: {value: bpm}"))
    csv = write(tmp_path, "p02.csv", """
        time,hr
        2019-01-01 08:00:00,70
        2019-01-01 08:01:00,seventy
        2019-01-01 08:02:00,1.2
        2019-01-01 08:03:00
        """)
    result = read(csv, mapping)
    why = {r.where: r.reason for r in result.rejected}
    assert why["line 3"] == "field 'hr': cannot read 'seventy' as float"
    assert "looks like Hz" in why["line 4"]
    assert why["line 5"].startswith("truncated row")
    assert by_kind(result, Kind.HEART_RATE)[0].values.tolist() == [70]


@pytest.mark.parametrize(("text", "field", "problem"), [
    ("time: {column: t}\nvalues: [{kind: heartrate, columns: {value: hr}}]", "values[0].kind", "Input should be"),
    ("time: {column: t}\ntimezone: UTC\nvalues: [{kind: heart_rate, columns: {bpm: hr}}]",
     "values[0].columns.bpm", "has no field 'bpm'"),
    ("time: {column: t}\nvalues: [{kind: heart_rate, columns: {value: hr}, units: {value: kg}}]",
     "values[0].units.value", "cannot be in 'kg'"),
    ("values: [{kind: heart_rate, columns: {value: hr}}]", "time", "Field required"),
    ("time: {column: t}\ntimezon: UTC\nvalues: [{kind: heart_rate, columns: {value: hr}}]", "timezon",
     "Extra inputs are not permitted"),
    ("time: {column: t}\nsubject: a\nsubject_column: b\nvalues: [{kind: heart_rate, columns: {value: hr}}]",
     "subject_column", "either 'subject' or 'subject_column'"),
    ("time: {column: t}\nvalues: [{kind: steps, columns: {value: n}}]", "end", "over intervals"),
    ("time: {column: t}\ntimezone: Mars/Olympus\nvalues: [{kind: steps, columns: {value: n}}]", "timezone",
     "unknown time zone"),
    ("time: {column: t}\nvalues: [{kind: screen_event, columns: {event: e}, units: {event: s}}]",
     "values[0].units.event", "categorical"),
    ("time: {column: t}\nvalues: []", "values", "at least 1 item"),
])
def test_bad_mapping_names_file_and_field(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write(tmp_path, "m.yaml", text)
    with pytest.raises(MappingError) as exc:
        load_mapping(path)
    assert str(exc.value).startswith(f"{path}: field '{field}': ")
    assert problem in str(exc.value)


def test_unparseable_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"m.yaml: not valid YAML at line 3: expected ','"):
        parse_mapping("time: {column: t}\nvalues: [unclosed\n", tmp_path / "m.yaml")


def test_bad_mapping_refuses_the_csv_with_its_message(tmp_path: Path) -> None:
    mapping = write(tmp_path, "m.yaml", "time: {column: t}\nvalues: [{kind: heart_rate, columns: {value: hr}, "
                                        "units: {value: kg}}]\n")
    csv = write(tmp_path, "x.csv", "t,hr\n2019-01-01T00:00:00Z,60\n")
    got = read_file(csv, ReadContext(mappings=(mapping,)))
    assert not isinstance(got, ReadResult)
    assert got.reason.startswith(f"{mapping}: field 'values[0].units.value'")


def test_folder_mapping_applies_to_csvs_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder, FOLDER_MAPPING, HR_MAPPING)
    for name, bpm in (("a.csv", 1.0), ("b.csv", 1.5)):
        write(folder, name, f"time,hr\n2019-01-01 08:00:00,{bpm}\n")
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    write(elsewhere, "c.csv", "time,hr\n2019-01-01 08:00:00,1\n")
    report = ingest([folder, elsewhere], ReadContext())
    assert {(s.subject, float(s.values[0])) for s in report.series} == {("a", 60.0), ("b", 90.0)}
    (failed,) = report.failed_files
    assert failed.file.endswith("c.csv") and "mapping file" in failed.reason
    assert any("describes the CSV files" in n for r in report.results for n in r.notes)


def test_header_must_hold_the_mapped_columns(tmp_path: Path) -> None:
    mapping = write(tmp_path, "hr.yaml", HR_MAPPING)
    csv = write(tmp_path, "x.csv", "time,pulse\n2019-01-01 08:00:00,1\n")
    got = read_file(csv, ReadContext(mappings=(mapping,)))
    assert not isinstance(got, ReadResult) and "needs column(s) ['hr']" in got.reason


def test_sniff_claims_plain_csv_and_mapping_files_only(tmp_path: Path) -> None:
    assert isinstance(sniff(write(tmp_path, "a.csv", "x,y\n1,2\n")), MappedCsv)
    assert isinstance(sniff(write(tmp_path, "m.yaml", HR_MAPPING)), MappedCsv)
    reader = MappedCsv()
    for text in ('{"a": 1, "b": 2}\n', "<x>a,b</x>\n", "just one column\n1\n"):
        path = write(tmp_path, "t.txt", text)
        assert not reader.sniff(path.read_bytes(), path), text


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 2 * 10**9), st.floats(30, 220, allow_nan=False)),
                     min_size=1, max_size=25, unique_by=lambda r: r[0]),
       zone=st.sampled_from(["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]))
def test_epoch_round_trip(tmp_path: Path, rows: list[tuple[int, float]], zone: str) -> None:
    mapping = write(tmp_path, "m.yaml", f"time: {{column: t, format: epoch_ms}}\ntimezone: {zone}\n"
                                        "values: [{kind: heart_rate, columns: {value: hr}}]\n")
    csv = tmp_path / "rt.csv"
    csv.write_text("t,hr\n" + "".join(f"{ms * 1000},{bpm!r}\n" for ms, bpm in rows), encoding="utf-8")
    result = read(csv, mapping)
    (hr,) = result.series
    expected = sorted(rows)
    assert hr.time.view(np.int64).tolist() == [ms * 10**9 for ms, _ in expected]
    assert hr.values.tolist() == [bpm for _, bpm in expected]
    assert hr.tz == zone and not result.rejected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 10**9), st.integers(-12 * 4, 14 * 4), st.integers(0, 5000)),
                     min_size=1, max_size=25, unique_by=lambda r: r[0]))
def test_wall_clock_with_offset_column_round_trip(tmp_path: Path, rows: list[tuple[int, int, int]]) -> None:
    mapping = write(tmp_path, "m.yaml", "time: {column: local}\ntimezone_column: utc_offset\n"
                                        "values: [{kind: steps, columns: {value: n}}]\nepoch_seconds: 1\n")
    base = datetime(2000, 1, 1, tzinfo=UTC)
    lines = []
    for sec, quarters, n in rows:
        offset = timedelta(minutes=15 * quarters)
        local = (base + timedelta(seconds=sec) + offset).replace(tzinfo=None).isoformat()
        sign, minutes = ("-" if quarters < 0 else "+"), abs(15 * quarters)
        lines.append(f"{local},{sign}{minutes // 60:02d}:{minutes % 60:02d},{n}\n")
    csv = tmp_path / "rt.csv"
    csv.write_text("local,utc_offset,n\n" + "".join(lines), encoding="utf-8")
    result = read(csv, mapping)
    (steps,) = result.series
    expected = sorted((sec, n) for sec, _, n in rows)
    assert steps.time.view(np.int64).tolist() == [(946684800 + sec) * 10**9 for sec, _ in expected]
    assert steps.values.tolist() == [n for _, n in expected]


def test_cli_ingest_with_mapping(tmp_path: Path) -> None:
    mapping = write(tmp_path, "hr.yaml", HR_MAPPING)
    csv = write(tmp_path, "p09.csv", "time,hr\n2019-01-01 08:00:00,1.0\n2019-01-01 08:01:00,1.1\n")
    store = tmp_path / "store"
    ok = CliRunner().invoke(app, ["ingest", "--mapping", str(mapping), "--store", str(store), str(csv)])
    assert ok.exit_code == 0, ok.output
    (series,) = Store(store).series(subject="p09")
    assert series.values.tolist() == pytest.approx([60, 66])
    bad = write(tmp_path, "bad.yaml", HR_MAPPING.replace("Hz", "kg"))
    refused = CliRunner().invoke(app, ["ingest", "--mapping", str(bad), "--store", str(store), str(csv)])
    assert refused.exit_code == 2
    assert "field 'values[0].units.value'" in refused.output


def test_wide_rows_carry_several_streams_and_blank_fields(tmp_path: Path) -> None:
    mapping = write(tmp_path, "wide.yaml", """
        time: {column: t, format: epoch_s}
        timezone: UTC
        epoch_seconds: 60
        values:
          - {kind: heart_rate, columns: {value: hr}}
          - {kind: steps, columns: {value: steps}}
          - {kind: gps_fix, columns: {latitude: plat, longitude: plon, accuracy: pacc}}
          - {kind: gps_fix, columns: {latitude: wlat, longitude: wlon}}
        """)
    csv = write(tmp_path, "wide.csv", """
        t,hr,steps,plat,plon,pacc,wlat,wlon
        0,61,10,59.9,10.7,5,,
        60,,12,,,,59.8,10.6
        120,,,,,,,
        180,63,,,,,,
        """)
    result = read(csv, mapping)
    (hr,) = by_kind(result, Kind.HEART_RATE)
    (steps,) = by_kind(result, Kind.STEPS)
    (gps,) = by_kind(result, Kind.GPS_FIX)
    assert hr.values.tolist() == [61, 63] and steps.values.tolist() == [10, 12]
    assert gps.columns["latitude"].tolist() == [59.9, 59.8]
    assert gps.columns["accuracy"][0] == 5 and np.isnan(gps.columns["accuracy"][1])
    assert [(r.where, r.reason) for r in result.rejected] == [("line 4", "no value in any mapped column")]
