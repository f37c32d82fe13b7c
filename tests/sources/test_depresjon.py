"""Depresjon reader: the real data, and every kind of bad input a data manager meets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindbridge.datapoints import Kind
from mindbridge.sources.base import ReadContext, ReadResult
from mindbridge.sources.depresjon import DepresjonActigraphy, DepresjonScores
from mindbridge.sources.ingest import NothingUsable, ingest, read_file
from mindbridge.sources.quarantine import Rejected, read_jsonl
from mindbridge.sources.registry import sniff
from mindbridge.sources.store import Store

HEADER = "timestamp,date,activity\n"


def _write(tmp_path: Path, name: str, body: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return path


def _read(path: Path) -> ReadResult:
    got = read_file(path, ReadContext())
    assert isinstance(got, ReadResult), got
    return got


def _reasons(result: ReadResult) -> dict[str, str]:
    return {r.where: r.reason for r in result.rejected}


@pytest.mark.slow
def test_whole_real_dataset(depresjon_dir: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    report = ingest([depresjon_dir], ReadContext(), store)
    summary = report.summary()
    assert len(summary) == 55
    assert summary["rows"].sum() == 1_571_706
    assert not report.rejected
    assert (summary["kind"] == Kind.ACTIVITY_COUNTS.value).all()
    subjects = store.table("subjects")
    assert len(subjects) == 55
    assert (subjects["group"] == "condition").sum() == 23
    assert subjects.loc[subjects["subject"] == "condition_1", "madrs1"].item() == 19
    back = list(store.series(subject="condition_1"))
    assert len(back) == 1 and back[0].tz == "Europe/Oslo"


def test_spring_daylight_saving_gap_is_continuous_in_utc(depresjon_dir: Path) -> None:
    result = _read(depresjon_dir / "control" / "control_1.csv")
    (series,) = result.series
    step = np.diff(series.time).astype("timedelta64[m]").astype(int)
    assert set(step) == {1}, "the skipped local hour must be one minute apart in UTC"
    assert len(series) == 51611


def test_bad_rows_are_quarantined_with_line_and_reason(tmp_path: Path) -> None:
    body = HEADER + "\n".join([
        "2003-05-07 12:00:00,2003-05-07,0",
        "2003-05-07 12:01:00,2003-05-07,-5",        # negative count
        "2003-05-07 12:02:00,2003-05-07,abc",       # not a number
        "2003-05-07 12:03:00,2003-05-08,7",         # date disagrees
        "2003-05-07 12:03:00,2003-05-07,7",
        "2003-05-07 12:03:00,2003-05-07,7",         # exact duplicate
        "2003-05-07 12:03:00,2003-05-07,9",         # conflicting duplicate
        "2003-05-07 12:05:00,2003-05-07,3",
        "2003-05-07 12:04:00,2003-05-07,2",         # out of order: kept, sorted
        "2003-13-07 12:06:00,2003-05-07,1",         # impossible timestamp
        "2003-05-07 12:07:00,2003-05",              # truncated
    ])
    result = _read(_write(tmp_path, "subject_a.csv", body))
    (series,) = result.series
    assert list(series.values) == [0, 7, 2, 3]
    reasons = _reasons(result)
    assert reasons["line 3"].startswith("implausible activity_counts: -5")
    assert reasons["line 4"] == "field 'activity': cannot read 'abc' as float"
    assert reasons["line 5"] == "date column disagrees with the timestamp"
    assert reasons["line 7"].startswith("duplicate: same time and value as line 6")
    assert reasons["line 8"].startswith("conflicting duplicate")
    assert reasons["line 11"].startswith("field 'timestamp'")
    assert reasons["line 12"].startswith("truncated row: expected 3 fields, found 2")
    assert result.out_of_order == 1
    raw = {r.where: r.raw for r in result.rejected}
    assert raw["line 4"] == "2003-05-07 12:02:00,2003-05-07,abc"
    assert len(series) + len(result.rejected) == 11


def test_nonexistent_and_repeated_local_times(tmp_path: Path) -> None:
    spring = HEADER + "2003-03-30 01:59:00,2003-03-30,1\n2003-03-30 02:30:00,2003-03-30,2\n" \
                      "2003-03-30 03:00:00,2003-03-30,3\n"
    result = _read(_write(tmp_path, "spring.csv", spring))
    assert list(result.series[0].values) == [1, 3]
    assert "daylight-saving" in _reasons(result)["line 3"]
    # Autumn: 02:00-02:59 happens twice; a minute-by-minute recording resolves it by order.
    wall = np.arange(np.datetime64("2003-10-26T01:58"), np.datetime64("2003-10-26T03:00"), np.timedelta64(1, "m"))
    wall = np.concatenate([wall[:62], wall[2:]])
    autumn = HEADER + "".join(f"{str(w).replace('T', ' ')}:00,2003-10-26,{i}\n" for i, w in enumerate(wall))
    result = _read(_write(tmp_path, "autumn.csv", autumn))
    (series,) = result.series
    assert not result.rejected
    assert set(np.diff(series.time).astype("timedelta64[m]").astype(int)) == {1}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "latin-1"])
def test_other_encodings_are_converted(tmp_path: Path, encoding: str) -> None:
    text = HEADER + "2003-05-07 12:00:00,2003-05-07,4\n2003-05-07 12:01:00,2003-05-07,5\n"
    path = _write(tmp_path, "enc.csv", text.encode(encoding))
    assert sniff(path).name == "depresjon"
    result = _read(path)
    assert list(result.series[0].values) == [4, 5]
    if encoding == "utf-16":
        assert result.notes == ["converted from utf-16 to UTF-8"]


def test_whole_file_failures_are_quarantined_and_named(tmp_path: Path) -> None:
    empty = _write(tmp_path, "empty.csv", "")
    garbage = _write(tmp_path, "garbage.bin", bytes(range(256)) * 4)
    unknown = _write(tmp_path, "other.csv", "a,b,c\n1,2,3\n")
    header_only = _write(tmp_path, "header.csv", HEADER)
    for path, reason in [(empty, "empty file"), (garbage, "not a text file"), (unknown, "no reader recognises")]:
        got = read_file(path, ReadContext())
        assert isinstance(got, Rejected) and reason in got.reason and got.file == str(path)
    store = Store(tmp_path / "store")
    with pytest.raises(NothingUsable, match="None of the 4 file"):
        ingest([empty, garbage, unknown, header_only], ReadContext(), store)
    assert len(read_jsonl(store.quarantine_path)) == 3


def test_one_good_file_is_enough(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.csv", HEADER + "2003-05-07 12:00:00,2003-05-07,4\n")
    _write(tmp_path, "empty.csv", "")
    report = ingest([tmp_path], ReadContext())
    assert report.summary()["rows"].tolist() == [1]
    assert [r.file for r in report.failed_files] == [str(tmp_path / "empty.csv")]
    assert good.exists()


def test_gzip_and_sniffing_by_content(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "renamed.data"
    path.write_bytes(gzip.compress((HEADER + "2003-05-07 12:00:00,2003-05-07,4\n").encode()))
    assert sniff(path).name == "depresjon"
    assert _read(path).series[0].subject == "renamed"
    assert not DepresjonActigraphy().sniff(b"timestamp,activity\n", path)


def test_scores_table(tmp_path: Path) -> None:
    path = _write(tmp_path, "scores.csv", "number,days,gender,age,afftype,melanch,inpatient,edu,marriage,"
                  "work,madrs1,madrs2\ncondition_1,11,2,35-39,2,2,2,6-10,1,2,19,19\n"
                  "control_1,8,2,25-29,NA,NA,NA,,NA,NA,NA,NA\n,8,2,25-29,NA,NA,NA,,NA,NA,NA,NA\n")
    assert sniff(path).name == DepresjonScores.name
    result = _read(path)
    table = result.tables["subjects"]
    assert table["subject"].tolist() == ["condition_1", "control_1"]
    assert table["group"].tolist() == ["condition", "control"]
    assert np.isnan(table["madrs1"].iloc[1])
    assert _reasons(result) == {"line 4": "missing subject id"}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(-3, 5000)), min_size=1, max_size=80),
       st.booleans())
def test_any_rows_are_kept_or_quarantined(tmp_path: Path, rows: list[tuple[int, int]], corrupt: bool) -> None:
    """Every data line ends up in the series or in quarantine, never both, never neither."""
    start = np.datetime64("2003-06-01T00:00")
    lines = []
    for minute, count in rows:
        t = start + np.timedelta64(minute, "m")
        lines.append(f"{str(t).replace('T', ' ')}:00,{str(t)[:10]},{count}")
    if corrupt:
        lines[len(lines) // 2] = lines[len(lines) // 2][:7]
    result = _read(_write(tmp_path, "h.csv", HEADER + "\n".join(lines) + "\n"))
    kept = sum(len(s) for s in result.series)
    assert kept + len(result.rejected) == len(rows)
    kept_values = np.concatenate([s.values for s in result.series]) if result.series else np.array([])
    assert np.all(kept_values >= 0)
    assert {r.where for r in result.rejected} <= {f"line {i + 2}" for i in range(len(rows))}


def test_blank_lines_keep_line_numbers_exact(tmp_path: Path) -> None:
    body = HEADER + "2003-05-07 12:00:00,2003-05-07,4\n\n2003-05-07 12:01:00,2003-05-07,-1\n"
    result = _read(_write(tmp_path, "blank.csv", body))
    assert list(result.series[0].values) == [4]
    assert [r.where for r in result.rejected] == ["line 4"]
