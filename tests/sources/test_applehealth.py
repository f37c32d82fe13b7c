"""Apple Health export reader: known values for every record type, bad records, truncation, zip, memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindbridge.datapoints import Kind, Series
from mindbridge.sources.applehealth import AppleHealthExport, activity_name, epoch_ns
from mindbridge.sources.base import NotReadable, ReadContext, ReadResult
from mindbridge.sources.ingest import read_file
from mindbridge.sources.registry import sniff

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
]>
<HealthData locale="en_US">
 <ExportDate value="2019-01-10 10:00:00 -0500"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1980-01-01"/>"""
TAIL = "</HealthData>"
WATCH = ('sourceName="Jane’s Apple Watch" device="&lt;&lt;HKDevice: 0x28&gt;, name:Apple Watch, '
         'manufacturer:Apple Inc., model:Watch, hardware:Watch6,1, software:8.5&gt;"')
WATCH_SOURCE = "Jane’s Apple Watch (Watch6,1)"
UTC = "datetime64[ns]"


def rec(rtype: str, start: str, end: str, value: str, unit: str | None = None, source: str = WATCH,
        children: str = "") -> str:
    """One <Record> line (with children on the same line, so each record is one line)."""
    kind = "HKCategoryTypeIdentifier" if rtype == "SleepAnalysis" else "HKQuantityTypeIdentifier"
    u = f' unit="{unit}"' if unit is not None else ""
    body = f">{children}</Record>" if children else "/>"
    return (f' <Record type="{kind}{rtype}" {source}{u} creationDate="{end} -0500" '
            f'startDate="{start} -0500" endDate="{end} -0500" value="{value}"{body}')


def export(lines: list[str]) -> str:
    """A whole export.xml around record lines."""
    return "\n".join([HEAD, *lines, TAIL]) + "\n"


def line_of(lines: list[str], index: int) -> str:
    """The file line number of `lines[index]` in `export(lines)`."""
    return f"line {HEAD.count(chr(10)) + 2 + index}"


def read(path: Path, ctx: ReadContext | None = None) -> ReadResult:
    """Read through the registry, as ingest does."""
    got = read_file(path, ctx or ReadContext())
    assert isinstance(got, ReadResult), got
    return got


def one(result: ReadResult, kind: Kind, source: str = WATCH_SOURCE) -> Series:
    """The single series of a kind and source."""
    found = [s for s in result.series if s.kind is kind and s.source == source]
    assert len(found) == 1, [(s.kind, s.source) for s in result.series]
    return found[0]


def utc(*stamps: str) -> np.ndarray:
    """UTC datetimes from ISO strings."""
    return np.array(stamps, dtype=UTC)


GOOD = [
    rec("StepCount", "2019-01-01 08:00:00", "2019-01-01 08:10:00", "520", "count"),
    rec("StepCount", "2019-01-01 08:10:00", "2019-01-01 08:20:00", "130", "count"),
    rec("HeartRate", "2019-01-01 08:00:00", "2019-01-01 08:00:00", "72", "count/min"),
    rec("HeartRate", "2019-01-01 08:05:00", "2019-01-01 08:05:00", "1.5", "count/s"),
    rec("RestingHeartRate", "2019-01-01 00:00:00", "2019-01-01 23:59:00", "55", "count/min"),
    rec("HeartRateVariabilitySDNN", "2019-01-01 23:59:00", "2019-01-02 00:00:30", "48.5", "ms",
        children='<HeartRateVariabilityMetadataList><InstantaneousBeatsPerMinute bpm="60" time="11:59:01.50 PM"/>'
                 '<InstantaneousBeatsPerMinute bpm="62" time="12:00:02.00 AM"/></HeartRateVariabilityMetadataList>'),
    rec("SleepAnalysis", "2019-01-01 22:00:00", "2019-01-02 06:00:00", "HKCategoryValueSleepAnalysisInBed"),
    rec("SleepAnalysis", "2019-01-01 22:30:00", "2019-01-01 23:00:00", "HKCategoryValueSleepAnalysisAsleepCore"),
    rec("SleepAnalysis", "2019-01-01 23:00:00", "2019-01-01 23:40:00", "HKCategoryValueSleepAnalysisAsleepDeep"),
    rec("SleepAnalysis", "2019-01-01 23:40:00", "2019-01-02 00:10:00", "HKCategoryValueSleepAnalysisAsleepREM"),
    rec("SleepAnalysis", "2019-01-02 00:10:00", "2019-01-02 00:15:00", "HKCategoryValueSleepAnalysisAwake"),
    rec("SleepAnalysis", "2019-01-02 00:15:00", "2019-01-02 03:00:00", "HKCategoryValueSleepAnalysisAsleep"),
    rec("SleepAnalysis", "2019-01-02 03:00:00", "2019-01-02 05:00:00",
        "HKCategoryValueSleepAnalysisAsleepUnspecified"),
    rec("BloodGlucose", "2019-01-02 07:00:00", "2019-01-02 07:00:00", "99", "mg/dL", 'sourceName="Dexcom"'),
    rec("BloodGlucose", "2019-01-02 08:00:00", "2019-01-02 08:00:00", "5.5", "mmol&lt;180.1558800000541&gt;/L",
        'sourceName="Dexcom"'),
    ' <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="30" durationUnit="min" '
    'totalDistance="5" totalDistanceUnit="km" totalEnergyBurned="300" totalEnergyBurnedUnit="kcal" '
    f'{WATCH} startDate="2019-01-02 17:00:00 -0500" endDate="2019-01-02 17:30:00 -0500"/>',
    ' <Workout workoutActivityType="HKWorkoutActivityTypeTraditionalStrengthTraining" duration="0.75" '
    f'durationUnit="hr" {WATCH} startDate="2019-01-03 17:00:00 -0500" endDate="2019-01-03 17:45:00 -0500">'
    '<WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" sum="836.8" unit="kJ"/>'
    '<WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum="1" unit="mi"/></Workout>',
    rec("BodyMass", "2019-01-02 07:00:00", "2019-01-02 07:00:00", "70", "kg"),
    rec("BodyMass", "2019-01-03 07:00:00", "2019-01-03 07:00:00", "70.2", "kg"),
    ' <ActivitySummary dateComponents="2019-01-02" activeEnergyBurned="400"/>',
    ' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Cuff" '
    'startDate="2019-01-02 07:00:00 -0500" endDate="2019-01-02 07:00:00 -0500">'
    + rec("HeartRate", "2019-01-02 07:00:00", "2019-01-02 07:00:00", "70", "count/min", 'sourceName="Cuff"')
    + "</Correlation>",
]


@pytest.fixture
def good(tmp_path: Path) -> ReadResult:
    """The hand-written export with every record type, read through the registry."""
    path = tmp_path / "export.xml"
    path.write_text(export(GOOD), encoding="utf-8")
    return read(path)


def test_steps_are_intervals_in_utc(good: ReadResult) -> None:
    s = one(good, Kind.STEPS)
    assert s.values.tolist() == [520, 130]
    assert (s.time == utc("2019-01-01T13:00", "2019-01-01T13:10")).all()
    assert s.end is not None and (s.end == utc("2019-01-01T13:10", "2019-01-01T13:20")).all()
    assert s.tz == "-05:00" and s.subject == "export"


def test_heart_rate_units_and_resting_series(good: ReadResult) -> None:
    hr = one(good, Kind.HEART_RATE)
    assert hr.values.tolist() == [72, 90]  # 1.5 count/s is 90 /min
    resting = one(good, Kind.HEART_RATE, WATCH_SOURCE + " (resting)")
    assert resting.values.tolist() == [55] and "resting" in resting.meta["note"]
    assert one(good, Kind.HRV_SDNN).values.tolist() == [48.5]


def test_instantaneous_beats_cross_local_midnight(good: ReadResult) -> None:
    beats = one(good, Kind.HEART_RATE, WATCH_SOURCE + " (beat-to-beat)")
    assert beats.values.tolist() == [60, 62]
    assert (beats.time == utc("2019-01-02T04:59:01.50", "2019-01-02T05:00:02")).all()


def test_sleep_stages_and_in_bed_are_separate_series(good: ReadResult) -> None:
    stages = one(good, Kind.SLEEP_STAGE)
    assert stages.columns["stage"].tolist() == ["light", "deep", "rem", "awake", "asleep", "asleep"]
    in_bed = one(good, Kind.SLEEP_STAGE, WATCH_SOURCE + " (in bed)")
    assert in_bed.columns["stage"].tolist() == ["in_bed"]
    assert in_bed.end is not None and in_bed.end[0] == np.datetime64("2019-01-02T11:00", "ns")


def test_glucose_molar_unit_uses_its_molar_mass(good: ReadResult) -> None:
    g = one(good, Kind.GLUCOSE, "Dexcom")
    assert g.values[0] == 99
    assert g.values[1] == pytest.approx(5.5 * 18.01558800000541)


def test_workouts_from_attributes_and_statistics(good: ReadResult) -> None:
    w = one(good, Kind.PHYSICAL_ACTIVITY)
    assert w.columns["activity"].tolist() == ["running", "traditional_strength_training"]
    assert w.values.tolist() == pytest.approx([30, 45])
    assert w.columns["distance"].tolist() == pytest.approx([5000, 1609.344])
    assert w.columns["kcal"].tolist() == pytest.approx([300, 200])


def test_unused_types_are_counted_not_quarantined(good: ReadResult) -> None:
    assert not good.rejected
    (note,) = [n for n in good.notes if n.startswith("not used")]
    assert "HKQuantityTypeIdentifierBodyMass × 2" in note
    assert "ActivitySummary × 1" in note and "Correlation × 1" in note
    assert not any(s.source == "Cuff" for s in good.series), "records nested in a correlation are not top level"


def test_bad_records_are_quarantined_with_line_and_raw_tag(tmp_path: Path) -> None:
    lines = [
        rec("HeartRate", "2019-01-01 08:00:00", "2019-01-01 08:00:00", "70", "count/min"),
        rec("HeartRate", "2019-01-01 08:01:00", "2019-01-01 08:01:00", "abc", "count/min"),
        rec("HeartRate", "2019-01-01 25:00:00", "2019-01-01 25:00:00", "70", "count/min"),
        ' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="W" unit="count/min" value="70"/>',
        rec("HeartRate", "2019-01-01 08:02:00", "2019-01-01 08:02:00", "1.2", "count/min"),
        rec("HeartRate", "2019-01-01 08:00:00", "2019-01-01 08:00:00", "70", "count/min"),
        rec("HeartRate", "2019-01-01 08:00:00", "2019-01-01 08:00:00", "75", "count/min"),
        rec("StepCount", "2019-01-01 08:00:00", "2019-01-01 08:10:00", "100", "count"),
        rec("StepCount", "2019-01-01 08:05:00", "2019-01-01 08:15:00", "100", "count"),
        rec("BloodGlucose", "2019-01-01 08:00:00", "2019-01-01 08:00:00", "5", "mg"),
        rec("SleepAnalysis", "2019-01-01 22:00:00", "2019-01-01 23:00:00", "HKCategoryValueSleepAnalysisDozing"),
        ' <Record sourceName="W" startDate="2019-01-01 08:00:00 -0500" endDate="2019-01-01 08:00:00 -0500"/>',
    ]
    path = tmp_path / "export.xml"
    path.write_text(export(lines), encoding="utf-8")
    result = read(path)
    why = {r.where: r.reason for r in result.rejected}
    assert why[line_of(lines, 1)] == "attribute 'value': cannot read 'abc' as a number"
    assert why[line_of(lines, 2)].startswith("unparseable date '2019-01-01 25:00:00 -0500'")
    assert why[line_of(lines, 3)] == "missing attribute 'startDate'"
    assert "looks like Hz" in why[line_of(lines, 4)]
    assert why[line_of(lines, 5)].startswith("duplicate")
    assert why[line_of(lines, 6)].startswith("conflicting duplicate")
    assert why[line_of(lines, 8)].startswith("overlapping interval")
    assert why[line_of(lines, 9)].startswith("unit:") and "'mg'" in why[line_of(lines, 9)]
    assert why[line_of(lines, 10)] == "unknown sleep analysis value 'HKCategoryValueSleepAnalysisDozing'"
    assert why[line_of(lines, 11)] == "missing attribute 'type'"
    assert len(result.rejected) == 10
    raws = {r.where: r.raw for r in result.rejected}
    for i in (1, 4, 9, 11):
        assert raws[line_of(lines, i)] == lines[i].strip()
    assert one(result, Kind.HEART_RATE).values.tolist() == [70]
    assert result.rows_in == 12


def test_truncated_export_keeps_records_before_the_break(tmp_path: Path) -> None:
    lines = [rec("StepCount", f"2019-01-01 08:{m:02d}:00", f"2019-01-01 08:{m:02d}:30", str(m + 1), "count")
             for m in range(10)]
    text = export(lines)
    cut = text.index(lines[7]) + 40
    path = tmp_path / "export.xml"
    path.write_text(text[:cut], encoding="utf-8")
    result = read(path)
    assert one(result, Kind.STEPS).values.tolist() == [1, 2, 3, 4, 5, 6, 7]
    (broken,) = result.rejected
    assert broken.where == line_of(lines, 7)
    assert broken.reason.startswith("XML breaks off")
    assert broken.raw == lines[7][1:40]
    assert any("breaks off at " + line_of(lines, 7) in n for n in result.notes)


def test_break_inside_a_workout_keeps_the_workout(tmp_path: Path) -> None:
    text = export(GOOD)
    cut = text.index('<WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning"') + 30
    path = tmp_path / "export.xml"
    path.write_text(text[:cut], encoding="utf-8")
    result = read(path)
    w = one(result, Kind.PHYSICAL_ACTIVITY)
    assert w.columns["activity"].tolist() == ["running", "traditional_strength_training"]
    assert w.columns["kcal"][1] == pytest.approx(200) and np.isnan(w.columns["distance"][1])
    assert [r.reason.split(":")[0] for r in result.rejected] == ["XML breaks off"]


def test_zip_export_is_sniffed_and_read_like_the_xml(tmp_path: Path, good: ReadResult) -> None:
    path = tmp_path / "download.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
        z.writestr("apple_health_export/export.xml", export(GOOD))
    assert isinstance(sniff(path), AppleHealthExport)
    result = read(path, ReadContext(subject="jane"))
    assert {(s.kind, s.source, len(s)) for s in result.series} == {(s.kind, s.source, len(s)) for s in good.series}
    assert all(s.subject == "jane" for s in result.series)


def test_gzipped_export_is_read(tmp_path: Path, good: ReadResult) -> None:
    path = tmp_path / "export.xml.gz"
    path.write_bytes(gzip.compress(export(GOOD).encode()))
    result = read(path)
    assert result.reader == "apple-health"
    assert sorted(len(s) for s in result.series) == sorted(len(s) for s in good.series)


def test_sniffs_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "health-data.txt"
    renamed.write_text(export(GOOD[:1]), encoding="utf-8")
    assert isinstance(sniff(renamed), AppleHealthExport)
    other = tmp_path / "export.xml"
    other.write_text('<?xml version="1.0"?><Other/>', encoding="utf-8")
    assert not AppleHealthExport().sniff(other.read_bytes(), other)
    not_apple = tmp_path / "x.zip"
    with zipfile.ZipFile(not_apple, "w") as z:
        z.writestr("notes.txt", "hello")
    assert not AppleHealthExport().sniff(not_apple.read_bytes(), not_apple)


def test_entity_bomb_is_refused(tmp_path: Path) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE HealthData [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            '<HealthData locale="en">&b;</HealthData>')
    path = tmp_path / "export.xml"
    path.write_text(bomb, encoding="utf-8")
    with pytest.raises(NotReadable, match="entity"):
        AppleHealthExport().read(path, ReadContext())


def test_varying_offsets_are_noted_and_ctx_tz_wins(tmp_path: Path) -> None:
    lines = [rec("HeartRate", "2019-01-01 08:00:00", "2019-01-01 08:00:00", "70", "count/min"),
             rec("HeartRate", "2019-01-01 09:00:00", "2019-01-01 09:00:00", "71", "count/min"),
             rec("HeartRate", "2019-01-05 09:00:00", "2019-01-05 09:00:00", "72", "count/min").replace(
                 "-0500", "+0100")]
    path = tmp_path / "export.xml"
    path.write_text(export(lines), encoding="utf-8")
    guessed = read(path)
    assert one(guessed, Kind.HEART_RATE).tz == "-05:00"
    assert any("-05:00 × 2, +01:00 × 1" in n for n in guessed.notes)
    given = read(path, ReadContext(tz="America/New_York"))
    hr = one(given, Kind.HEART_RATE)
    assert hr.tz == "America/New_York"
    assert hr.time[2] == np.datetime64("2019-01-05T08:00", "ns")


def test_date_parser_known_answers() -> None:
    assert epoch_ns("1970-01-01 00:00:00 +0000") == (0, "+00:00")
    assert epoch_ns("2019-01-01 08:00:00 -0500") == (int(np.datetime64("2019-01-01T13:00", "ns").view("i8")),
                                                     "-05:00")
    assert epoch_ns("2020-03-01 05:30:00 +0530")[0] == int(np.datetime64("2020-03-01T00:00", "ns").view("i8"))
    for bad in ("2019-02-30 08:00:00 -0500", "2019-01-01T08:00:00-05:00", "2019-01-01 08:00:00", ""):
        with pytest.raises(ValueError, match="unparseable date"):
            epoch_ns(bad)
    assert activity_name("HKWorkoutActivityTypeHighIntensityIntervalTraining") == "high_intensity_interval_training"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**8), st.integers(30, 220), st.sampled_from([-12, -5, 0, 1, 9, 14])),
                min_size=1, max_size=30, unique_by=lambda r: r[0]))
def test_heart_rate_round_trip(tmp_path: Path, records: list[tuple[int, int, int]]) -> None:
    base = np.datetime64("2015-01-01T00:00:00", "s")
    lines = []
    for sec, bpm, hours in records:
        local = str(base + np.timedelta64(sec + hours * 3600, "s")).replace("T", " ")
        sign = "+" if hours >= 0 else "-"
        stamp = f"{local} {sign}{abs(hours):02d}00"
        lines.append(f' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="S" unit="count/min" '
                     f'startDate="{stamp}" endDate="{stamp}" value="{bpm}"/>')
    path = tmp_path / "export.xml"
    path.write_text(export(lines), encoding="utf-8")
    result = AppleHealthExport().read(path, ReadContext())
    (hr,) = result.series
    expected = sorted((base + np.timedelta64(sec, "s"), bpm) for sec, bpm, _ in records)
    assert hr.time.tolist() == [t.astype("datetime64[ns]").item() for t, _ in expected]
    assert hr.values.tolist() == [b for _, b in expected]
    assert not result.rejected


BIG_RECORDS = 600_000
PEAK_RSS_MB = 250  # the whole process, interpreter and numpy/pandas included
BIG_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    from mindbridge.sources.applehealth import AppleHealthExport
    from mindbridge.sources.base import ReadContext
    t0 = time.perf_counter()
    result = AppleHealthExport().read(Path(sys.argv[1]), ReadContext())
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # Linux carries the parent's high-water mark into ru_maxrss across exec; VmHWM is this process's own.
    status = Path("/proc/self/status")
    hwm = [int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:")] \
        if status.exists() else [usage.ru_maxrss]
    print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                      "rows": sum(len(s) for s in result.series),
                      "rejected": len(result.rejected),
                      "peak_mb": hwm[0] / 1024, "ru_maxrss_mb": usage.ru_maxrss / 1024}))
""")


def write_big_export(path: Path, records: int) -> None:
    """A synthetic export of step, heart-rate and unused records, written in chunks."""
    device = WATCH
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEAD + "\n")
        base = np.datetime64("2018-01-01T00:00:00", "s")
        for first in range(0, records, 10_000):
            stamps = [str(base + np.timedelta64(i * 60, "s")).replace("T", " ") + " -0500"
                      for i in range(first, first + 10_000)]
            chunk = []
            for i, stamp in enumerate(stamps, first):
                rtype, unit = (("HeartRate", "count/min"), ("StepCount", "count"), ("BasalEnergyBurned", "kcal"))[i % 3]
                chunk.append(f' <Record type="HKQuantityTypeIdentifier{rtype}" {device} sourceVersion="8.5" '
                             f'unit="{unit}" creationDate="{stamp}" startDate="{stamp}" endDate="{stamp}" '
                             f'value="{60 + i % 50}">\n  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" '
                             f'value="0"/>\n </Record>\n')
            fh.write("".join(chunk))
        fh.write(TAIL + "\n")


@pytest.mark.slow
def test_large_export_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    write_big_export(path, BIG_RECORDS)
    size_mb = path.stat().st_size / 2**20
    assert size_mb > 150, size_mb
    out = subprocess.run([sys.executable, "-c", BIG_SCRIPT, str(path)], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert (got["rows"], got["rejected"]) == (BIG_RECORDS * 2 // 3, 0)
    assert got["peak_mb"] < PEAK_RSS_MB, got
    print(f"\n{size_mb:.0f} MB export, {BIG_RECORDS:,} records: {BIG_RECORDS / got['seconds']:,.0f} records/s "
          f"({BIG_RECORDS / got['cpu']:,.0f} per CPU second), peak RSS {got['peak_mb']:.0f} MB")
