"""Open mHealth / IEEE 1752.1 reader: conformance on the upstream test data, mapping, quarantine, properties."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindbridge.datapoints import Kind
from mindbridge.sources.base import NotReadable, ReadContext
from mindbridge.sources.omh_schemas import BODIES, SchemaId, catalog
from mindbridge.sources.openmhealth import OpenMHealthReader
from mindbridge.sources.registry import sniff

READER = OpenMHealthReader()
HR = SchemaId("omh", "heart-rate", "2.0")


def header(schema: SchemaId, *, user: str | None = "alice", source: str = "Polar H10") -> dict[str, Any]:
    """An Open mHealth 1.2 header naming `schema`."""
    h: dict[str, Any] = {"id": str(uuid.uuid4()), "creation_date_time": "2024-01-01T00:00:00Z",
                         "schema_id": {"namespace": schema.namespace, "name": schema.name, "version": schema.version},
                         "acquisition_provenance": {"source_name": source, "modality": "sensed"}}
    if user is not None:
        h["user_id"] = user
    return h


def point(schema: SchemaId, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A data point: header + body."""
    return {"header": header(schema, **kw), "body": body}


def heart_rate(bpm: float, when: str) -> dict[str, Any]:
    """A heart-rate 2.0 body."""
    return {"heart_rate": {"value": bpm, "unit": "beats/min"}, "effective_time_frame": {"date_time": when}}


def write(tmp_path: Path, content: Any, name: str = "export.json") -> Path:
    """Write JSON (or raw text) to a file."""
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1), encoding="utf-8")
    return path


def utc_ns(text: str) -> int:
    """An ISO date-time as UTC nanoseconds (the known answer, computed independently of the reader)."""
    return int(np.datetime64(datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None), "ns").view(np.int64))


# --- Conformance on the upstream Open mHealth / IEEE test data -------------------------------------------------


def _conformance_folders(root: Path) -> list[tuple[SchemaId, Path]]:
    found = []
    for namespace in ("omh", "ieee"):
        for folder in sorted((root / "test-data" / namespace).glob("*/*")):
            schema = SchemaId(namespace, folder.parent.name, folder.name)
            if catalog().has(schema):
                found.append((schema, folder))
    return found


def test_conformance_every_should_pass_accepted_every_should_fail_rejected(openmhealth_dir: Path) -> None:
    folders = _conformance_folders(openmhealth_dir)
    expected = {kind: sum(len(list((f / kind).glob("*.json"))) for _, f in folders)
                for kind in ("shouldPass", "shouldFail")}
    accepted, rejected, wrong = 0, 0, []
    for schema, folder in folders:
        for kind in ("shouldPass", "shouldFail"):
            for doc in sorted((folder / kind).glob("*.json")):
                issue = catalog().check(json.loads(doc.read_text()), schema)
                accepted += issue is None
                rejected += issue is not None
                if (issue is None) != (kind == "shouldPass"):
                    wrong.append(f"{schema} {kind}/{doc.name}: {issue}")
    print(f"\nconformance: {len(folders)} schema versions, {expected['shouldPass']} shouldPass accepted, "
          f"{expected['shouldFail']} shouldFail rejected")
    assert wrong == []
    assert (accepted, rejected) == (expected["shouldPass"], expected["shouldFail"])
    tested = {s.name for s, _ in folders}
    assert set(BODIES) <= tested, f"no conformance data for {set(BODIES) - tested}"
    assert {s.namespace for s, _ in folders} == {"omh", "ieee"}


def test_compiled_and_reference_validators_agree_on_conformance_data(openmhealth_dir: Path) -> None:
    for schema, folder in _conformance_folders(openmhealth_dir):
        for doc in sorted(folder.glob("should*/*.json")):
            value = json.loads(doc.read_text())
            fast = True
            try:
                catalog().compiled(schema)(value)
            except Exception:
                fast = False
            assert fast == catalog().validator(schema).is_valid(value), f"{schema} {doc}"


def test_should_fail_data_points_are_quarantined_with_pointer_and_schema(openmhealth_dir: Path, tmp_path: Path) -> None:
    docs = [(s, json.loads(f.read_text())) for s, folder in _conformance_folders(openmhealth_dir)
            if s.name in BODIES and s.namespace == "omh" for f in sorted(folder.glob("shouldFail/*.json"))]
    path = write(tmp_path, [point(s, body) for s, body in docs])
    result = READER.read(path, ReadContext())
    assert sum(len(s) for s in result.series) == 0
    assert len(result.rejected) == len(docs) == result.rows_in
    for i, (r, (schema, body)) in enumerate(zip(result.rejected, docs, strict=True)):
        assert r.where.startswith(f"/{i}/body"), r
        assert str(schema) in r.reason
        assert json.loads(r.raw)["body"] == body


# --- Mapping: known answers ------------------------------------------------------------------------------------


def test_heart_rate_times_are_utc_with_the_offset_kept(tmp_path: Path) -> None:
    stamps = ["2024-03-01T08:00:00+02:00", "2024-03-01T08:01:00+02:00", "2024-03-01T07:59:00+02:00"]
    path = write(tmp_path, [point(HR, heart_rate(60 + i, t)) for i, t in enumerate(stamps)])
    result = READER.read(path, ReadContext())
    [series] = result.series
    assert (series.subject, series.kind, series.source, series.tz) == ("alice", Kind.HEART_RATE, "Polar H10", "+02:00")
    assert series.time.view(np.int64).tolist() == sorted(utc_ns(t) for t in stamps)
    assert series.values.tolist() == [62.0, 60.0, 61.0]
    assert series.local_time()[0] == np.datetime64("2024-03-01T07:59:00")
    assert result.rejected == []


def test_units_convert_and_intervals_resolve(tmp_path: Path) -> None:
    glucose = {"blood_glucose": {"value": 5.0, "unit": "mmol/L"},
               "effective_time_frame": {"date_time": "2024-03-01T07:00:00Z"}}
    walk = {"activity_name": "walking", "distance": {"value": 2.5, "unit": "km"},
            "kcal_burned": {"value": 150, "unit": "kcal"},
            "effective_time_frame": {"time_interval": {"end_date_time": "2024-03-01T10:00:00-05:00",
                                                       "duration": {"value": 45, "unit": "min"}}}}
    sleep = {"effective_time_frame": {"time_interval": {"start_date_time": "2024-03-01T23:00:00+01:00",
                                                        "duration": {"value": 8, "unit": "h"}}},
             "latency_to_sleep_onset": {"value": 20, "unit": "min"},
             "wake_after_sleep_onset": {"value": 0.5, "unit": "h"}}
    steps = {"step_count": {"value": 1200, "unit": "steps"},
             "effective_time_frame": {"time_interval": {"start_date_time": "2024-03-01T09:00:00Z",
                                                        "end_date_time": "2024-03-01T10:00:00Z"}}}
    path = write(tmp_path, [point(SchemaId("omh", "blood-glucose", "4.0"), glucose),
                            point(SchemaId("omh", "physical-activity", "1.2"), walk),
                            point(SchemaId("omh", "sleep-episode", "1.1"), sleep),
                            point(SchemaId("omh", "step-count", "3.0"), steps)])
    result = READER.read(path, ReadContext())
    assert result.rejected == []
    got = {s.kind: s for s in result.series}
    assert got[Kind.GLUCOSE].values[0] == pytest.approx(5.0 * 18.0182)
    act = got[Kind.PHYSICAL_ACTIVITY]
    assert act.time[0].view(np.int64) == utc_ns("2024-03-01T09:15:00-05:00")
    assert act.end is not None and act.end[0].view(np.int64) == utc_ns("2024-03-01T10:00:00-05:00")
    assert (act.values[0], act.columns["distance"][0], act.columns["kcal"][0]) == (45.0, 2500.0, 150.0)
    assert act.columns["activity"][0] == "walking"
    slp = got[Kind.SLEEP_EPISODE]
    assert slp.values[0] == pytest.approx(8 * 60 - 20 - 30)  # episode less latency and wake after onset
    assert slp.end is not None and slp.end[0] - slp.time[0] == np.timedelta64(8, "h")
    assert got[Kind.STEPS].values.tolist() == [1200.0]


def test_sleep_totals_and_statistics_are_kept_apart_from_raw_samples(tmp_path: Path) -> None:
    window = {"time_interval": {"start_date_time": "2024-03-01T20:00:00Z", "end_date_time": "2024-03-02T08:00:00Z"}}
    path = write(tmp_path, [
        point(SchemaId("omh", "total-sleep-time", "1.0"), {"total_sleep_time": {"value": 420, "unit": "min"},
                                                           "effective_time_frame": window}),
        point(SchemaId("omh", "sleep-duration", "2.0"), {"sleep_duration": {"value": 7.5, "unit": "h"},
                                                         "effective_time_frame": window}),
        point(HR, {**heart_rate(55, "2024-03-01T20:00:00Z"), "descriptive_statistic": "average"}),
        point(HR, heart_rate(70, "2024-03-01T20:00:00Z")),
    ])
    result = READER.read(path, ReadContext())
    got = {(s.kind, s.source): s.values.tolist() for s in result.series}
    assert got == {(Kind.SLEEP_EPISODE, "Polar H10 (total-sleep-time)"): [420.0],
                   (Kind.SLEEP_EPISODE, "Polar H10 (sleep-duration)"): [450.0],
                   (Kind.HEART_RATE, "Polar H10 (average)"): [55.0],
                   (Kind.HEART_RATE, "Polar H10"): [70.0]}


def test_bare_bodies_infer_their_schema_and_take_subject_from_context(tmp_path: Path) -> None:
    path = write(tmp_path, [heart_rate(61, "2024-03-01T08:00:00Z"),
                            {"step_count": 300, "effective_time_frame": {"time_interval": {
                                "start_date_time": "2024-03-01T08:00:00Z", "end_date_time": "2024-03-01T08:10:00Z"}}}])
    result = READER.read(path, ReadContext(subject="p7"))
    assert {(s.subject, s.kind, s.source) for s in result.series} == {
        ("p7", Kind.HEART_RATE, "unknown source"), ("p7", Kind.STEPS, "unknown source")}
    assert READER.read(path, ReadContext()).series[0].subject == "export"


def test_ieee_data_point_is_validated_against_ieee_schemas(tmp_path: Path) -> None:
    ieee_header = {"uuid": str(uuid.uuid4()), "source_creation_date_time": "2024-03-01T10:00:00Z",
                   "schema_id": {"namespace": "ieee", "name": "physical-activity", "version": "1.0"}}
    body = {"activity_name": "cycling", "effective_time_frame": {"time_interval": {
        "start_date_time": "2024-03-01T09:00:00Z", "end_date_time": "2024-03-01T09:30:00Z"}}}
    bad_header = {k: v for k, v in ieee_header.items() if k != "uuid"}
    path = write(tmp_path, [{"header": ieee_header, "body": body}, {"header": bad_header, "body": body}])
    result = READER.read(path, ReadContext(subject="p1"))
    [series] = result.series
    assert (series.kind, series.values.tolist(), series.subject) == (Kind.PHYSICAL_ACTIVITY, [30.0], "p1")
    [refused] = result.rejected
    assert refused.where == "/1/header" and "'uuid' is a required property" in refused.reason


# --- Quarantine --------------------------------------------------------------------------------------------------


def test_invalid_document_quarantined_with_pointer_message_and_raw_text(tmp_path: Path) -> None:
    docs = [point(HR, heart_rate(60 + i, f"2024-03-01T08:0{i}:00Z")) for i in range(5)]
    docs[3]["body"]["heart_rate"]["unit"] = "bpm"
    path = write(tmp_path, docs)
    result = READER.read(path, ReadContext())
    [refused] = result.rejected
    assert refused.file == str(path)
    assert refused.where == "/3/body/heart_rate/unit"
    assert "'bpm' is not one of ['beats/min']" in refused.reason and "heart-rate 2.0 (omh)" in refused.reason
    assert json.loads(refused.raw) == docs[3]
    assert refused.raw in path.read_text()  # the document's own text, not a re-serialisation
    assert sum(len(s) for s in result.series) == 4 and result.rows_in == 5


def test_unmappable_and_unsupported_documents_say_why(tmp_path: Path) -> None:
    part_of_day = heart_rate(60, "x")
    part_of_day["effective_time_frame"] = {"time_interval": {"date": "2024-03-01", "part_of_day": "morning"}}
    pressure = SchemaId("omh", "blood-pressure", "4.0")
    path = write(tmp_path, [point(HR, part_of_day), point(pressure, {}), {"foo": 1}, [1, 2]])
    reasons = {r.where: r.reason for r in READER.read(path, ReadContext()).rejected}
    assert "part of day has no clock times" in reasons["/0/body"]
    assert reasons["/1/header/schema_id"].startswith("unsupported schema blood-pressure 4.0 (omh)")
    assert reasons["/2"].startswith("not a recognised Open mHealth body")
    assert reasons["/3"].startswith("not a JSON object")


def test_duplicates_and_bounds_go_through_tidy(tmp_path: Path) -> None:
    same = point(HR, heart_rate(60, "2024-03-01T08:00:00Z"))
    path = write(tmp_path, [same, same, point(HR, heart_rate(400, "2024-03-01T08:01:00Z"))])
    result = READER.read(path, ReadContext())
    reasons = sorted(r.reason.split(":")[0] for r in result.rejected)
    assert reasons == ["duplicate", "implausible heart_rate"]
    assert [r.where for r in sorted(result.rejected, key=lambda r: r.where)] == ["/1", "/2"]


def test_json_lines_with_a_broken_line(tmp_path: Path) -> None:
    lines = [json.dumps(point(HR, heart_rate(60, "2024-03-01T08:00:00Z"))), "{not json",
             "", json.dumps(point(HR, heart_rate(61, "2024-03-01T08:01:00Z")))]
    result = READER.read(write(tmp_path, "\n".join(lines), "hr.jsonl"), ReadContext())
    assert result.series[0].values.tolist() == [60.0, 61.0]
    [refused] = result.rejected
    assert (refused.where, refused.raw) == ("line 2", "{not json") and refused.reason.startswith("invalid JSON")


def test_broken_json_is_not_readable_with_its_position(tmp_path: Path) -> None:
    with pytest.raises(NotReadable, match=r"line 1, column \d+"):
        READER.read(write(tmp_path, '[{"heart_rate": {"value": 60,}]'), ReadContext())


def test_mixed_offsets_note_and_context_zone(tmp_path: Path) -> None:
    stamps = ["2024-03-30T08:00:00+01:00", "2024-04-01T08:00:00+02:00", "2024-04-02T08:00:00+02:00"]
    docs = [point(HR, heart_rate(60 + i, t)) for i, t in enumerate(stamps)]
    path = write(tmp_path, docs)
    result = READER.read(path, ReadContext())
    assert result.series[0].tz == "+02:00" and any("+01:00, +02:00" in n for n in result.notes)
    zoned = READER.read(path, ReadContext(tz="Europe/Oslo")).series[0]
    assert zoned.tz == "Europe/Oslo"
    assert zoned.local_time().astype("datetime64[h]").astype(int).tolist() == [
        int(np.datetime64(f"2024-{d}T08", "h").astype(int)) for d in ("03-30", "04-01", "04-02")]


# --- Sniffing ----------------------------------------------------------------------------------------------------


def test_sniff_by_content_not_by_name(tmp_path: Path) -> None:
    omh = write(tmp_path, [point(HR, heart_rate(60, "2024-03-01T08:00:00Z"))], "data.txt")
    assert READER.sniff(omh.read_bytes(), omh)
    assert sniff(omh).name == "openmhealth"
    other = write(tmp_path, {"resourceType": "Bundle", "entry": []}, "heart_rate.json")
    assert not READER.sniff(other.read_bytes(), other)
    assert not READER.sniff(b"timestamp,heart_rate\n2024-01-01,60\n", other)


# --- Properties --------------------------------------------------------------------------------------------------

OFFSETS = st.integers(-12 * 4, 14 * 4).map(lambda q: timedelta(minutes=15 * q))
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def _stamp(moment: datetime, offset: timedelta) -> str:
    return moment.replace(tzinfo=timezone(offset)).isoformat().replace("+00:00", "Z")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=st.lists(st.tuples(MOMENTS, OFFSETS, st.integers(20, 250)), min_size=1, max_size=20,
                        unique_by=lambda s: s[0].replace(tzinfo=timezone(s[1])).astimezone(UTC)))
def test_generated_heart_rate_round_trips(tmp_path: Path, samples: list[tuple[datetime, timedelta, int]]) -> None:
    docs = [point(HR, heart_rate(bpm, _stamp(m, o))) for m, o, bpm in samples]
    result = READER.read(write(tmp_path, docs), ReadContext())
    assert result.rejected == []
    [series] = result.series
    expected = sorted((utc_ns(_stamp(m, o)), float(bpm)) for m, o, bpm in samples)
    assert list(zip(series.time.view(np.int64).tolist(), series.values.tolist(), strict=True)) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=MOMENTS, offset=OFFSETS, minutes=st.integers(1, 24 * 60), count=st.integers(0, 50_000),
       version=st.sampled_from(["1.0", "2.0", "3.0"]))
def test_generated_step_count_round_trips(tmp_path: Path, start: datetime, offset: timedelta, minutes: int,
                                          count: int, version: str) -> None:
    frame = {"time_interval": {"start_date_time": _stamp(start, offset),
                               "duration": {"value": minutes, "unit": "min"}}}
    body = {"step_count": {"value": count, "unit": "steps"} if version == "3.0" else count,
            "effective_time_frame": frame}
    result = READER.read(write(tmp_path, point(SchemaId("omh", "step-count", version), body)), ReadContext())
    [series] = result.series
    assert series.time[0].view(np.int64) == utc_ns(_stamp(start, offset))
    assert series.end is not None and series.end[0] - series.time[0] == np.timedelta64(minutes, "m")
    assert series.values.tolist() == [float(count)]


MUTATIONS = {
    "drop heart_rate": lambda d, x: d["body"].pop("heart_rate"),
    "drop time frame": lambda d, x: d["body"].pop("effective_time_frame"),
    "value as text": lambda d, x: d["body"]["heart_rate"].__setitem__("value", x or "60"),
    "unknown unit": lambda d, x: d["body"]["heart_rate"].__setitem__("unit", x + "/min?"),
    "bad date-time": lambda d, x: d["body"]["effective_time_frame"].__setitem__("date_time", x + "T25:00"),
    "both time frames": lambda d, x: d["body"]["effective_time_frame"].__setitem__(
        "time_interval", {"start_date_time": "2024-01-01T00:00:00Z", "end_date_time": "2024-01-01T01:00:00Z"}),
    "drop schema version": lambda d, x: d["header"]["schema_id"].pop("version"),
    "header id as number": lambda d, x: d["header"].__setitem__("id", len(x)),
    "body as list": lambda d, x: d.__setitem__("body", [x]),
}
HEADER_MUTATIONS = {"drop schema version", "header id as number"}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=st.sampled_from(sorted(MUTATIONS)), text=st.text(max_size=12), keep_header=st.booleans())
def test_schema_breaking_mutations_end_in_quarantine(tmp_path: Path, mutation: str, text: str,
                                                     keep_header: bool) -> None:
    doc = point(HR, heart_rate(72, "2024-03-01T08:00:00Z"))
    MUTATIONS[mutation](doc, text)
    if not keep_header and mutation not in HEADER_MUTATIONS and isinstance(doc["body"], dict):
        doc = doc["body"]  # a bare body: the schema is inferred, trying every version
    good = point(HR, heart_rate(70, "2024-03-01T09:00:00Z"))
    result = READER.read(write(tmp_path, [good, doc]), ReadContext())
    assert sum(len(s) for s in result.series) == 1
    [refused] = result.rejected
    assert refused.where.startswith("/1") and json.loads(refused.raw) == doc


# --- Throughput ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_throughput_of_heart_rate_data_points(tmp_path: Path) -> None:
    n = 20_000
    base = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    docs = [point(HR, heart_rate(60 + i % 50, (base + timedelta(seconds=30 * i)).isoformat())) for i in range(n)]
    path = write(tmp_path, json.dumps(docs))
    started = time.perf_counter()
    result = READER.read(path, ReadContext())
    elapsed = time.perf_counter() - started
    print(f"\n{n} heart-rate data points read in {elapsed:.2f} s ({n / elapsed:,.0f} per second)")
    assert len(result.series[0]) == n and result.rejected == []
    assert elapsed < 60  # walking the schema with jsonschema alone takes minutes here
