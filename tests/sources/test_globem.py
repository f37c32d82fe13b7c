"""GLOBEM reader: the real sample checked against independent csv-module counts, broken copies, generated files."""

from __future__ import annotations

import csv
import gzip
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindbridge.datapoints import Kind
from mindbridge.sources.base import SNIFF_BYTES, ReadContext, ReadResult
from mindbridge.sources.globem import GlobemReader, parse_feature, select_features
from mindbridge.sources.ingest import ingest, read_file
from mindbridge.sources.quarantine import Rejected
from mindbridge.sources.registry import sniff
from mindbridge.sources.store import Store

# What each GLOBEM file should become, written from the dataset's README (the reader itself goes by header).
TABLE_OF_FILE = {
    "bluetooth.csv": "globem_features_bluetooth", "call.csv": "globem_features_call",
    "location.csv": "globem_features_location", "screen.csv": "globem_features_screen",
    "sleep.csv": "globem_features_sleep", "steps.csv": "globem_features_steps", "wifi.csv": "globem_features_wifi",
    "dep_weekly.csv": "globem_depression_weekly", "dep_endterm.csv": "globem_depression_endterm",
    "ema.csv": "globem_ema", "pre.csv": "globem_survey_pre", "post.csv": "globem_survey_post",
    "platform.csv": "globem_platform",
}
ANSWER_COLUMNS = {"feel_anxious": "phq4/feel_anxious", "feel_depressed": "phq4/feel_depressed",
                  "phq4": "phq4/total", "BDI2": "bdi2/total"}


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def _read(path: Path, ctx: ReadContext | None = None) -> ReadResult:
    got = read_file(path, ctx or ReadContext())
    assert isinstance(got, ReadResult), got
    return got


def _table(result: ReadResult) -> pd.DataFrame:
    (table,) = result.tables.values()
    return table


def _reasons(result: ReadResult) -> dict[str, str]:
    return {r.where: r.reason for r in result.rejected}


def _write(path: Path, header: list[str], rows: list[list[str]], end: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator=end).writerows([header, *rows])
    return path


def test_every_sample_file_is_recognised_by_content(globem_dir: Path, tmp_path: Path) -> None:
    files = sorted(globem_dir.rglob("*.csv"))
    assert len(files) == 52
    assert {sniff(f).name for f in files} == {GlobemReader.name}
    # The widest header is longer than the sniff window: a cut header must still be recognised,
    # and a renamed, compressed copy too.
    screen = globem_dir / "INS-W-sample_1" / "FeatureData" / "screen.csv"
    assert len(screen.read_bytes().split(b"\n", 1)[0]) > SNIFF_BYTES
    renamed = tmp_path / "export.data"
    renamed.write_bytes(gzip.compress(screen.read_bytes()))
    assert sniff(renamed).name == GlobemReader.name
    assert not GlobemReader().sniff(b"pid,date,steps\nINS-W_1,2018-01-01,3\n", renamed)
    assert not GlobemReader().sniff(b"timestamp,date,activity\n", renamed)


def test_feature_file_keeps_every_cell_as_written(globem_dir: Path) -> None:
    path = globem_dir / "INS-W-sample_1" / "FeatureData" / "sleep.csv"
    header, rows = _rows(path)
    result = _read(path)
    table = result.tables["globem_features_sleep"]
    assert not result.rejected and result.rows_in == len(rows)
    assert list(table.columns) == ["subject", "date", "dataset", *header[2:]]
    assert len(table) == len(rows) and table["subject"].nunique() == len({r[0] for r in rows})
    assert set(table["dataset"]) == {"INS-W_1"}
    assert table["date"].dtype == np.dtype("datetime64[ns]")
    assert table["date"].dt.strftime("%Y-%m-%d").tolist() == [r[1] for r in rows]
    empty = sum(cell == "" for r in rows for cell in r[2:])
    assert empty > 0 and int(table[header[2:]].isna().sum().sum()) == empty, "empty cells stay missing"
    for j, column in enumerate(header[2:], start=2):
        got = table[column]
        written = [r[j] for r in rows]
        if "_dis:" in column:
            assert isinstance(got.dtype, pd.CategoricalDtype) and list(got.cat.categories) == ["l", "m", "h"]
            assert [("" if pd.isna(v) else v) for v in got] == written
        else:
            assert got.dtype == np.float64
            expected = np.array([float(w) if w else np.nan for w in written])
            np.testing.assert_array_equal(got.to_numpy(), expected)


def test_weekly_labels_join_daily_features(globem_dir: Path) -> None:
    folder = globem_dir / "INS-W-sample_2"
    weekly = _read(folder / "SurveyData" / "dep_weekly.csv").tables["globem_depression_weekly"]
    steps = _read(folder / "FeatureData" / "steps.csv").tables["globem_features_steps"]
    label_header, label_rows = _rows(folder / "SurveyData" / "dep_weekly.csv")
    _, feature_rows = _rows(folder / "FeatureData" / "steps.csv")
    both = {(r[0], r[1]) for r in label_rows} & {(r[0], r[1]) for r in feature_rows}
    joined = weekly.merge(steps, on=["subject", "date", "dataset"], how="inner")
    assert len(joined) == len(both) > 0
    dep = label_header.index("dep")
    written = {(r[0], r[1]): r[dep] == "True" for r in label_rows}
    assert all(written[(s, d.strftime("%Y-%m-%d"))] == bool(v)
               for s, d, v in zip(joined["subject"], joined["date"], joined["dep"], strict=True))
    assert weekly["dep"].dtype == "boolean"
    steps_now = select_features(steps.columns, sensor="fitbit_steps_summary", segment="allday")
    assert steps_now and joined[steps_now].notna().any().any()


@pytest.mark.parametrize(("sample", "tz", "utc_hour"), [("INS-W-sample_1", None, 19), ("INS-W-sample_3", None, 19),
                                                       ("INS-W-sample_1", "Europe/Oslo", 10)])
def test_weekly_answers_become_survey_series(globem_dir: Path, sample: str, tz: str | None, utc_hour: int) -> None:
    path = globem_dir / sample / "SurveyData" / "dep_weekly.csv"
    header, rows = _rows(path)
    result = _read(path, ReadContext(tz=tz))
    expected: Counter[tuple[str, str, str]] = Counter()
    for r in rows:
        for column, code in ANSWER_COLUMNS.items():
            if column in header and r[header.index(column)]:
                expected[(r[0], r[1], code)] = int(float(r[header.index(column)]))
    got: Counter[tuple[str, str, str]] = Counter()
    for s in result.series:
        assert s.kind is Kind.SURVEY_RESPONSE and s.tz == (tz or "America/Los_Angeles")
        assert s.meta["dataset"] == f"INS-W_{sample[-1]}"
        local = pd.DatetimeIndex(s.local_time())
        assert set(local.hour) == {12} and set(pd.DatetimeIndex(s.time).hour) == {utc_hour}
        for day, value, item in zip(local.strftime("%Y-%m-%d"), s.values, s.columns["item"], strict=True):
            got[(s.subject, day, item)] = int(value)
    assert got == expected and len(expected) > 0
    assert len(result.series) == len({r[0] for r in rows})


def test_broken_feature_file_is_quarantined_line_by_line(globem_dir: Path, tmp_path: Path) -> None:
    header, rows = _rows(globem_dir / "INS-W-sample_1" / "FeatureData" / "wifi.csv")
    number = next(j for j, c in enumerate(header) if ":" in c and "_dis:" not in c)
    level = next(j for j, c in enumerate(header) if "_dis:" in c)
    rows = [list(r) for r in rows]
    rows[1][0] = ""                       # line 3: no pid
    rows[2][1] = "2018-02-30"             # line 4: impossible date
    rows[3][1] = ""                       # line 5: no date
    rows[4][number] = "abc"               # line 6: not a number
    rows[5][level] = "x"                  # line 7: not a level
    rows[6] = rows[6][:40]                # line 8: truncated
    conflicting = list(rows[9])
    conflicting[number] = "12345"
    rows += [list(rows[8]), conflicting]  # exact copy of line 10, conflicting copy of line 11
    n = len(rows)
    result = _read(_write(tmp_path / "INS-W_1" / "wifi.csv", header, rows))
    reasons = _reasons(result)
    assert reasons == {
        "line 3": "missing pid",
        "line 4": "field 'date': cannot read '2018-02-30' as date",
        "line 5": "missing date",
        "line 6": f"field {header[number]!r}: cannot read 'abc' as float",
        "line 7": f"field {header[level]!r}: level 'x' is not one of l, m, h",
        "line 8": f"truncated row: expected {len(header)} fields, found 40",
        f"line {n}": "duplicate: same pid and date and values as line 10",
        f"line {n + 1}": f"conflicting duplicate: same pid and date as line 11, different {header[number]!r}",
    }
    table = _table(result)
    assert len(table) + len(result.rejected) == result.rows_in == n
    assert not table.duplicated(["subject", "date"]).any()
    assert set(table["dataset"]) == {"INS-W_1"}, "an INS-W_<n> folder names the dataset"
    raw = {r.where: r.raw for r in result.rejected}
    assert raw["line 6"] == ",".join(rows[4]), "the careful path keeps the line's own text"


def test_broken_weekly_labels_keep_bad_answers_out_of_series(tmp_path: Path) -> None:
    header = ["pid", "date", "feel_anxious", "feel_depressed", "BDI2", "dep"]
    rows = [["INS-W_1", "2018-05-30", "2.0", "1.0", "", "True"],
            ["INS-W_1", "2018-06-03", "5.0", "1.0", "", "True"],    # line 3: above the item's 0-3
            ["INS-W_1", "2018-06-07", "", "", "18.5", "True"],      # line 4: not a whole score
            ["INS-W_2", "2018-05-30", "1.0", "0.0", "", "maybe"],   # line 5: not a boolean
            ["INS-W_2", "2018-06-03", "1.0", "1.0", "", ""],        # a missing label stays missing
            ["INS-W_2", "2018-06-03", "1.0", "2.0", "", ""],        # line 7: conflicting copy
            ["INS-W_2", "2018-06-08", "", "", "64", "False"]]       # line 8: above BDI-II's 63
    result = _read(_write(tmp_path / "weekly.csv", header, rows, end="\r\n"))
    assert _reasons(result) == {
        "line 3": "field 'feel_anxious': 5 is outside the score's range 0–3",
        "line 4": "field 'BDI2': 18.5 is not a whole-number score",
        "line 5": "field 'dep': cannot read 'maybe' as a boolean (True or False)",
        "line 7": "conflicting duplicate: same pid and date as line 6, different 'feel_depressed'",
        "line 8": "field 'BDI2': 64 is outside the score's range 0–63",
    }
    assert {r.where: r.raw for r in result.rejected}["line 3"] == ",".join(rows[1])
    table = result.tables["globem_depression_weekly"]
    assert table["dep"].isna().tolist() == [False, True]
    assert set(table["dataset"]) == {"INS-W"}, "without a study folder the pid's prefix names the dataset"
    answers = {(s.subject, float(v), str(i)) for s in result.series for v, i in zip(s.values, s.columns["item"],
                                                                                  strict=True)}
    assert answers == {("INS-W_1", 2.0, "phq4/feel_anxious"), ("INS-W_1", 1.0, "phq4/feel_depressed"),
                       ("INS-W_2", 1.0, "phq4/feel_anxious"), ("INS-W_2", 1.0, "phq4/feel_depressed")}


def test_whole_file_failures_name_the_problem(tmp_path: Path) -> None:
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("pid,date,f_slp:fitbit_sleep_summary_rapids_countepisodemain:allday,"
                        "f_slp:fitbit_sleep_summary_rapids_countepisodemain:allday\nINS-W_1,2018-05-01,1,2\n")
    got = read_file(repeated, ReadContext())
    assert isinstance(got, Rejected) and "appear more than once" in got.reason and got.file == str(repeated)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("pid,date,mood\nINS-W_1,2018-05-01,3\n")
    got = read_file(unknown, ReadContext())
    assert isinstance(got, Rejected) and "no reader recognises" in got.reason
    header_only = tmp_path / "platform.csv"
    header_only.write_text("pid,platform\n")
    result = _read(header_only)
    assert not result.usable and len(result.tables["globem_platform"]) == 0


def test_parse_and_select_real_feature_names(globem_dir: Path) -> None:
    header, _ = _rows(globem_dir / "INS-W-sample_4" / "FeatureData" / "location.csv")
    name = parse_feature("f_loc:phone_locations_locmap_duration_in_locmap_study_dis:14dhist")
    assert (name.prefix, name.data_type, name.sensor, name.provider, name.feature, name.version, name.segment) == (
        "f_loc", "location", "phone_locations", "locmap", "duration_in_locmap_study", "dis", "14dhist")
    wifi = parse_feature("f_wifi:phone_wifi_connected_rapids_countscans_norm:night")
    assert (wifi.sensor, wifi.provider, wifi.feature, wifi.version) == (
        "phone_wifi_connected", "rapids", "countscans", "norm")
    features = header[2:]
    raw_allday = [c for c in features if c.endswith(":allday") and "_norm:" not in c and "_dis:" not in c]
    assert select_features(header, sensor="location", segment="allday") == raw_allday
    assert select_features(header, sensor="f_loc", segment="allday") == raw_allday
    assert len(select_features(header, segment="allday", version=None)) == 3 * len(raw_allday)
    barnett = select_features(header, provider="barnett", segment="7dhist")
    assert barnett and all("_barnett_" in c and c.endswith(":7dhist") for c in barnett)
    assert select_features(header, sensor="sleep") == []
    with pytest.raises(ValueError, match="unknown segment 'daily'"):
        select_features(header, segment="daily")
    with pytest.raises(ValueError, match="no known RAPIDS provider"):
        parse_feature("f_loc:phone_locations_mystery_hometime:allday")


@pytest.mark.slow
def test_whole_sample_matches_independent_counts_file_by_file(globem_dir: Path) -> None:
    report = ingest([globem_dir], ReadContext())
    assert [f.file for f in report.failed_files] == [str(globem_dir / "README.md")]
    assert report.rejected == [report.failed_files[0]]
    assert len(report.results) == 52
    answers = 0
    for result in report.results:
        header, rows = _rows(result.path)
        (name, table), = result.tables.items()
        assert name == TABLE_OF_FILE[result.path.name], result.path
        assert len(table) == result.rows_in == len(rows), result.path
        assert set(table["subject"]) == {r[0] for r in rows}, result.path
        assert set(table["dataset"]) == {"INS-W_" + result.path.parts[-3][-1]}, result.path
        if result.path.name == "dep_weekly.csv":
            answers += sum(1 for r in rows for c in ANSWER_COLUMNS if c in header and r[header.index(c)])
    assert sum(1 for r in report.results for _ in r.tables) == 52
    assert len(report.series) == 40 and sum(len(s) for s in report.series) == answers


def test_store_round_trip_keeps_types_and_merges_datasets(globem_dir: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    folders = [globem_dir / f"INS-W-sample_{n}" for n in (1, 2)]
    paths = [p for f in folders for p in (f / "SurveyData", f / "ParticipantsInfoData", f / "FeatureData" / "wifi.csv")]
    ingest(paths, ReadContext(), store)
    weekly = store.table("globem_depression_weekly")
    expected = sum(len(_rows(f / "SurveyData" / "dep_weekly.csv")[1]) for f in folders)
    assert len(weekly) == expected and weekly["dep"].dtype == "boolean"
    assert set(weekly["dataset"]) == {"INS-W_1", "INS-W_2"}
    assert {"feel_anxious", "phq4"} <= set(weekly.columns), "the two studies' columns are united"
    wifi = store.table("globem_features_wifi")
    assert wifi["date"].dtype == np.dtype("datetime64[ns]")
    assert isinstance(wifi[select_features(wifi.columns, sensor="wifi", version="dis")[0]].dtype,
                      pd.CategoricalDtype)
    assert len(store.table("globem_platform")) == 20
    back = list(store.series(kind=Kind.SURVEY_RESPONSE))
    assert len(back) == 20 and {b.meta["dataset"] for b in back} == {"INS-W_1", "INS-W_2"}
    assert {str(i) for b in back for i in b.columns["item"]} == set(ANSWER_COLUMNS.values())


PREFIXES = {"f_slp": "fitbit_sleep_summary", "f_steps": "fitbit_steps_intraday", "f_screen": "phone_screen",
            "f_loc": "phone_locations"}
feature_parts = st.tuples(st.sampled_from(sorted(PREFIXES)), st.sampled_from(["rapids", "doryab", "barnett"]),
                          st.from_regex(r"[a-z]{1,8}(_[a-z0-9]{1,5})?", fullmatch=True)
                          .filter(lambda f: not f.endswith(("norm", "dis"))),  # a version suffix, not a name
                          st.sampled_from(["allday", "night", "7dhist", "14dhist", "weekend"]))


@given(feature_parts, st.sampled_from(["", "_norm", "_dis"]))
def test_feature_names_round_trip(parts: tuple[str, str, str, str], suffix: str) -> None:
    prefix, provider, feature, segment = parts
    column = f"{prefix}:{PREFIXES[prefix]}_{provider}_{feature}{suffix}:{segment}"
    name = parse_feature(column)
    assert (name.prefix, name.sensor, name.provider, name.feature, name.segment) == (
        prefix, PREFIXES[prefix], provider, feature, segment)
    assert name.version == {"": "raw", "_norm": "norm", "_dis": "dis"}[suffix]


cell = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32))
level = st.sampled_from(["", "l", "m", "h"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(feature_parts, min_size=1, max_size=5, unique_by=lambda p: (p[0], p[2], p[3])),
       st.lists(st.tuples(st.integers(1, 3), st.integers(0, 9)), min_size=1, max_size=25),
       st.data())
def test_generated_rapids_files(tmp_path: Path, features: list[tuple[str, str, str, str]],
                                keys: list[tuple[int, int]], data: st.DataObject) -> None:
    """Every line is kept once per (pid, date) or quarantined as a repeat; kept values are the written ones."""
    columns = []
    for prefix, provider, feature, segment in features:
        base = f"{prefix}:{PREFIXES[prefix]}_{provider}_{feature}"
        columns += [f"{base}:{segment}", f"{base}_dis:{segment}"]
    rows = []
    for person, day in keys:
        values = []
        for c in columns:
            if "_dis:" in c:
                values.append(data.draw(level))
            else:
                x = data.draw(cell)
                values.append("" if x is None else repr(x))
        rows.append([f"INS-W_{person:03d}", f"2019-05-{day + 1:02d}", *values])
    result = _read(_write(tmp_path / "gen.csv", ["pid", "date", *columns], rows))
    table = _table(result)
    first: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        first.setdefault((r[0], r[1]), r)
    assert len(table) == len(first) and len(result.rejected) == len(rows) - len(first)
    for rejected in result.rejected:
        row = rows[int(rejected.where.removeprefix("line ")) - 2]
        assert rejected.raw == ",".join(row), "the quarantine keeps the line as written"
        exact = row == first[(row[0], row[1])]
        assert rejected.reason.startswith("duplicate:" if exact else "conflicting duplicate:"), (rejected.reason, row)
    for got in table.itertuples(index=False):
        written = first[(got[0], got[1].strftime("%Y-%m-%d"))]
        for value, text in zip(got[3:], written[2:], strict=True):
            if isinstance(value, float):
                assert (math.isnan(value) and text == "") or value == float(text)
            else:
                assert ("" if pd.isna(value) else value) == text
    sensor, _, _, segment = features[0]
    chosen = select_features(table.columns, sensor=sensor, segment=segment)
    assert chosen == [c for c in columns if c.startswith(f"{sensor}:") and c.endswith(f":{segment}")
                      and "_dis:" not in c]
