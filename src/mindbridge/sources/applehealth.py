"""Apple Health exports: `export.xml`, or the `export.zip` Apple produces, read streaming in bounded memory.

The file is pushed through expat in 1 MiB chunks; no element tree is ever built. Each record's
fields go straight into compact per-(record type, source, unit) arrays (`array.array`), so memory
grows with 8-byte numbers per record rather than Python objects (measured: about 70 bytes per record
at peak over the interpreter's ~105 MB, so roughly 270 MB for a 1 GB export). Entity declarations
and external references are refused with defusedxml's exceptions (the protection defusedxml gives,
applied to a parser we drive ourselves so that expat's line and byte position of every record is
known). Refused records are quarantined with their line and the
raw start tag, re-read from the file by byte offset once parsing is done.

Dates look like `2019-01-01 08:00:00 -0500`; they become UTC and the series keep the most frequent
offset as their zone unless `ctx.tz` names one. Records of types no biomarker uses are counted in the
notes, not quarantined: they are valid.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import re
import zipfile
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import numpy as np
from defusedxml import EntitiesForbidden, ExternalReferenceForbidden

from ..datapoints import SPECS, Kind
from .base import GZIP_MAGIC, NotReadable, ReadContext, ReadResult, head_text, subject_from_name
from .quarantine import MAX_RAW_CHARS, Rejected
from .tidy import tidy
from .units import UnitError, factor

CHUNK = 1 << 20
NS = 1_000_000_000
ZIP_MAGIC = b"PK\x03\x04"
ZIP_MEMBER = "apple_health_export/export.xml"


@dataclass(frozen=True)
class Use:
    """How one Apple record type becomes a series: its kind, a source suffix, and a note kept as meta."""

    kind: Kind
    suffix: str = ""
    note: str = ""


RECORDS: dict[str, Use] = {
    "HKQuantityTypeIdentifierStepCount": Use(Kind.STEPS),
    "HKQuantityTypeIdentifierHeartRate": Use(Kind.HEART_RATE),
    "HKQuantityTypeIdentifierRestingHeartRate": Use(Kind.HEART_RATE, " (resting)",
                                                    "daily resting heart rate computed by the source"),
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": Use(Kind.HRV_SDNN),
    "HKQuantityTypeIdentifierBloodGlucose": Use(Kind.GLUCOSE),
    "HKCategoryTypeIdentifierSleepAnalysis": Use(Kind.SLEEP_STAGE),
}
# In-bed intervals contain the asleep ones, so they form their own series (one source never overlaps itself).
IN_BED = Use(Kind.SLEEP_STAGE, " (in bed)")
WORKOUT = Use(Kind.PHYSICAL_ACTIVITY)
BEATS = Use(Kind.HEART_RATE, " (beat-to-beat)", "instantaneous heart rate of single beats (HRV and heartbeat series)")
HEARTBEAT_SERIES = "HKDataTypeSourceHeartbeatSeries"

SLEEP_PREFIX = "HKCategoryValueSleepAnalysis"
SLEEP_STAGES = {"InBed": "in_bed", "Asleep": "asleep", "AsleepUnspecified": "asleep", "AsleepCore": "light",
                "AsleepDeep": "deep", "AsleepREM": "rem", "Awake": "awake"}
UCUM = {"count/min": "/min", "count/s": "/s", "Cal": "kcal"}
MOLAR = re.compile(r"mmol<(\d+(?:\.\d+)?)>/L")
DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")
BEAT_TIME = re.compile(r"(\d{1,2}):(\d\d):(\d\d)(?:[.,](\d+))?\s*([AaPp][Mm])?")
DEVICE_FIELD = re.compile(r"\b(hardware|model):(.+?)(?=, [a-z ]+:|>|$)")  # values may hold commas
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
IGNORED_ELEMENTS = {"ExportDate", "Me"}


class Bad(ValueError):
    """One record cannot be read; the message is the quarantine reason."""


@dataclass
class Rows:
    """Growing compact columns of one (use, source, unit) group of records."""

    start: array[int] = field(default_factory=lambda: array("q"))
    end: array[int] = field(default_factory=lambda: array("q"))
    value: array[float] = field(default_factory=lambda: array("d"))
    distance: array[float] = field(default_factory=lambda: array("d"))
    kcal: array[float] = field(default_factory=lambda: array("d"))
    label: list[str] = field(default_factory=list)
    line: array[int] = field(default_factory=lambda: array("q"))
    offset: array[int] = field(default_factory=lambda: array("q"))

    def add(self, start: int, end: int, value: float, line: int, offset: int) -> None:
        """Append one record (times in UTC nanoseconds)."""
        self.start.append(start)
        self.end.append(end)
        self.value.append(value)
        self.line.append(line)
        self.offset.append(offset)


@dataclass
class Workout:
    """A workout being read: its attributes are known at its start tag, its statistics come as children."""

    start: int
    end: int
    minutes: float
    activity: str
    source: str
    line: int
    offset: int
    distance: float = float("nan")
    kcal: float = float("nan")


def epoch_ns(text: str) -> tuple[int, str]:
    """UTC nanoseconds of an Apple date like '2019-01-01 08:00:00 -0500', and its offset as '+HH:MM'."""
    if DATE.fullmatch(text) is None:
        raise Bad(f"unparseable date {text!r}: expected 'YYYY-MM-DD hh:mm:ss ±hhmm'")
    h, mi, s = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if h > 23 or mi > 59 or s > 60:
        raise Bad(f"unparseable date {text!r}: time out of range")
    try:
        midnight, offset = local_midnight(text[:10], text[20:])
    except ValueError as exc:
        raise Bad(f"unparseable date {text!r}: {exc}") from None
    return midnight + (h * 3600 + mi * 60 + s) * NS, offset


@functools.lru_cache(maxsize=4096)
def local_midnight(day: str, offset: str) -> tuple[int, str]:
    """UTC nanoseconds of the local midnight starting `day` ('YYYY-MM-DD') at `offset` ('-0500'), and '-05:00'."""
    days = dt.date.fromisoformat(day).toordinal() - EPOCH_ORDINAL
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if hours > 14 or minutes > 59:
        raise ValueError("offset out of range")
    seconds = (1 if offset[0] == "+" else -1) * (hours * 3600 + minutes * 60)
    return (days * 86400 - seconds) * NS, f"{offset[0]}{offset[1:3]}:{offset[3:5]}"


def unit_factor(kind: Kind, column: str, unit: str) -> float:
    """Multiplier from an Apple HealthKit unit string to the canonical unit of `kind`'s `column`."""
    molar = MOLAR.fullmatch(unit)
    if molar is not None and SPECS[kind].columns[column] == "mg/dL":
        return float(molar.group(1)) / 10.0  # mmol/L × g/mol = mg/L; ÷ 10 → mg/dL
    return factor(kind, column, UCUM.get(unit, unit))


def activity_name(workout_type: str) -> str:
    """'HKWorkoutActivityTypeTraditionalStrengthTraining' → 'traditional_strength_training'."""
    name = workout_type.removeprefix("HKWorkoutActivityType")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Collector:
    """Expat handlers that sort each record into compact columns, or into quarantine with the reason."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self.parser = parser
        self.groups: dict[tuple[Use, str, str], Rows] = {}
        self.refused: list[tuple[int, int, str]] = []  # (line, byte offset, reason)
        self.unused: Counter[str] = Counter()
        self.offsets: Counter[str] = Counter()
        self.depth = 0
        self.workout: Workout | None = None
        self.beats: tuple[int, int, str] | None = None  # parent's start (UTC ns), UTC offset (s), source
        self._sources: dict[tuple[str, str], str] = {}

    def start(self, name: str, attrs: dict[str, str]) -> None:
        """An element opens; a record missing a needed attribute is refused by naming it."""
        self.depth += 1
        try:
            if self.depth == 2:
                if name == "Record":
                    self.record(attrs)
                elif name == "Workout":
                    self.workout_start(attrs)
                elif name not in IGNORED_ELEMENTS:
                    self.unused[name] += 1
            elif name == "WorkoutStatistics" and self.workout is not None:
                self.workout_statistics(attrs)
            elif name == "InstantaneousBeatsPerMinute" and self.beats is not None:
                self.beat(attrs)
        except Bad as exc:
            self.refuse(str(exc))
        except KeyError as exc:
            self.refuse(f"missing attribute {exc.args[0]!r}")

    def end(self, name: str) -> None:
        """An element closes."""
        if self.depth == 2:
            if self.workout is not None:
                self.workout_end()
            self.beats = None
        self.depth -= 1

    def refuse(self, reason: str) -> None:
        """Quarantine the element being read."""
        self.refused.append((*self.here(), reason))

    def here(self) -> tuple[int, int]:
        """Line and byte offset of the element being read."""
        return self.parser.CurrentLineNumber, self.parser.CurrentByteIndex

    def source(self, attrs: dict[str, str]) -> str:
        """sourceName, with the device's hardware or model when the record names a device."""
        key = (attrs["sourceName"], attrs.get("device", ""))
        label = self._sources.get(key)
        if label is None:
            found = dict(DEVICE_FIELD.findall(key[1]))
            hw = (found.get("hardware") or found.get("model") or "").strip()
            label = f"{key[0]} ({hw})" if hw else key[0]
            if len(self._sources) > 10_000:  # device strings embed a pointer; keep the cache bounded
                self._sources.clear()
            self._sources[key] = label
        return label

    def dates(self, attrs: dict[str, str]) -> tuple[int, int, str]:
        """Start and end (UTC ns) of a record, and its start's UTC offset."""
        start_text, end_text = attrs["startDate"], attrs["endDate"]
        start, offset = epoch_ns(start_text)
        end = start if end_text == start_text else epoch_ns(end_text)[0]
        self.offsets[offset] += 1
        return start, end, offset

    def record(self, attrs: dict[str, str]) -> None:
        """A top-level <Record>."""
        rtype = attrs["type"]
        use = RECORDS.get(rtype)
        if use is None and rtype != HEARTBEAT_SERIES:
            self.unused[rtype] += 1
            return
        source = self.source(attrs)
        start, end, offset = self.dates(attrs)
        if use is None or use.kind is Kind.HRV_SDNN:  # their beats come as children
            sign = 1 if offset[0] == "+" else -1
            self.beats = (start, sign * (int(offset[1:3]) * 3600 + int(offset[4:]) * 60), source)
        if use is None:
            return
        raw_value = attrs["value"]
        line, byte = self.parser.CurrentLineNumber, self.parser.CurrentByteIndex
        if use.kind is Kind.SLEEP_STAGE:
            stage = SLEEP_STAGES.get(raw_value.removeprefix(SLEEP_PREFIX))
            if stage is None:
                raise Bad(f"unknown sleep analysis value {raw_value!r}")
            rows = self.rows(IN_BED if stage == "in_bed" else use, source, "")
            rows.add(start, end, float("nan"), line, byte)
            rows.label.append(stage)
            return
        unit = attrs.get("unit", "")
        self.rows(use, source, unit).add(start, end, number(raw_value, "value"), line, byte)

    def rows(self, use: Use, source: str, unit: str) -> Rows:
        """The columns of one (use, source, unit) group."""
        key = (use, source, unit)
        rows = self.groups.get(key)
        if rows is None:
            rows = self.groups[key] = Rows()
        return rows

    def workout_start(self, attrs: dict[str, str]) -> None:
        """A <Workout>: duration, distance and energy may be attributes or come as statistics children."""
        source = self.source(attrs)
        start, end, _ = self.dates(attrs)
        if "duration" in attrs:
            minutes = number(attrs["duration"], "duration") * convert(
                Kind.PHYSICAL_ACTIVITY, "value", attrs.get("durationUnit", "min"), "durationUnit")
        else:
            minutes = (end - start) / 60e9
        workout = Workout(start, end, minutes, activity_name(required(attrs, "workoutActivityType")),
                          source, *self.here())
        if "totalDistance" in attrs:
            workout.distance = number(attrs["totalDistance"], "totalDistance") * convert(
                Kind.PHYSICAL_ACTIVITY, "distance", attrs.get("totalDistanceUnit", "km"), "totalDistanceUnit")
        if "totalEnergyBurned" in attrs:
            workout.kcal = number(attrs["totalEnergyBurned"], "totalEnergyBurned") * convert(
                Kind.PHYSICAL_ACTIVITY, "kcal", attrs.get("totalEnergyBurnedUnit", "kcal"), "totalEnergyBurnedUnit")
        self.workout = workout

    def workout_statistics(self, attrs: dict[str, str]) -> None:
        """A <WorkoutStatistics> child: distance or active energy when the workout has no total."""
        w = self.workout
        assert w is not None
        stype = attrs.get("type", "")
        if "Distance" in stype and np.isnan(w.distance) and "sum" in attrs:
            w.distance = number(attrs["sum"], "sum") * convert(Kind.PHYSICAL_ACTIVITY, "distance",
                                                               attrs.get("unit", ""), "unit")
        elif stype.endswith("ActiveEnergyBurned") and np.isnan(w.kcal) and "sum" in attrs:
            w.kcal = number(attrs["sum"], "sum") * convert(Kind.PHYSICAL_ACTIVITY, "kcal",
                                                           attrs.get("unit", ""), "unit")

    def workout_end(self) -> None:
        """The workout closes: keep it."""
        w = self.workout
        assert w is not None
        self.workout = None
        rows = self.rows(WORKOUT, w.source, "")
        rows.add(w.start, w.end, w.minutes, w.line, w.offset)
        rows.distance.append(w.distance)
        rows.kcal.append(w.kcal)
        rows.label.append(w.activity)

    def beat(self, attrs: dict[str, str]) -> None:
        """An <InstantaneousBeatsPerMinute> inside an HRV or heartbeat-series record (time of day only)."""
        assert self.beats is not None
        parent, offset, source = self.beats
        text = required(attrs, "time")
        m = BEAT_TIME.fullmatch(text.strip())
        if m is None:
            raise Bad(f"unparseable beat time {text!r}")
        h, mi, s, frac, half = m.groups()
        hour = int(h) % 12 + (12 if half and half.lower() == "pm" else 0) if half else int(h)
        seconds = hour * 3600 + int(mi) * 60 + int(s) + (float(f"0.{frac}") if frac else 0.0)
        local_parent = parent + offset * NS
        midnight = local_parent - local_parent % (86400 * NS)
        t = midnight + round(seconds * NS) - offset * NS
        if t < parent - 60 * NS:  # the series ran past local midnight
            t += 86400 * NS
        line, byte = self.here()
        self.rows(BEATS, source, "count/min").add(t, t, number(required(attrs, "bpm"), "bpm"), line, byte)


def required(attrs: dict[str, str], name: str) -> str:
    """An attribute the record cannot do without."""
    value = attrs.get(name)
    if value is None or not value.strip():
        raise Bad(f"missing attribute {name!r}")
    return value


def number(text: str, name: str) -> float:
    """A numeric attribute."""
    try:
        return float(text)
    except ValueError:
        raise Bad(f"attribute {name!r}: cannot read {text!r} as a number") from None


def convert(kind: Kind, column: str, unit: str, name: str) -> float:
    """The unit factor of one attribute, refusing the record on an unknown unit."""
    try:
        return unit_factor(kind, column, unit)
    except UnitError as exc:
        raise Bad(f"attribute {name!r}: {exc}") from None


def forbid_entity(name: str, *_: object) -> None:
    """Entity declarations (the 'billion laughs' bomb) are refused."""
    raise EntitiesForbidden(name, None, None, None, None, None)


def forbid_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> int:
    """External entities and DTDs (XXE) are refused."""
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def export_member(archive: zipfile.ZipFile) -> str:
    """The export.xml inside Apple's zip (not export_cda.xml)."""
    names = archive.namelist()
    if ZIP_MEMBER in names:
        return ZIP_MEMBER
    found = [n for n in names if n.rsplit("/", 1)[-1] == "export.xml"]
    if not found:
        raise NotReadable(f"zip file without an export.xml (expected {ZIP_MEMBER})")
    return found[0]


@contextmanager
def open_export(path: Path) -> Iterator[BinaryIO]:
    """A binary stream of the export's XML: plain, gzip, or the member of Apple's zip."""
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == ZIP_MAGIC:
        with zipfile.ZipFile(path) as archive, archive.open(export_member(archive)) as member:
            yield member  # type: ignore[misc]
    elif magic.startswith(GZIP_MAGIC):
        with gzip.open(path, "rb") as gz:
            yield gz  # type: ignore[misc]
    else:
        with path.open("rb") as plain:
            yield plain


def excerpts(path: Path, offsets: set[int]) -> dict[int, str]:
    """The start tag found at each byte offset of the export (bounded length), reading forward once."""
    out: dict[int, str] = {}
    with open_export(path) as fh:
        for off in sorted(offsets):
            fh.seek(max(off, 0))
            chunk = fh.read(MAX_RAW_CHARS)
            cut = chunk.find(b">")
            out[off] = chunk[: cut + 1 if cut >= 0 else len(chunk)].decode("utf-8", errors="replace").strip()
    return out


class AppleHealthExport:
    """Apple Health export.xml (or export.zip): steps, heart rate, HRV, sleep stages, glucose, workouts."""

    name = "apple-health"
    description = "Apple Health export.xml / export.zip"

    def sniff(self, head: bytes, path: Path) -> bool:
        """The XML root is <HealthData> (also inside Apple's zip)."""
        if head.startswith(ZIP_MAGIC):
            try:
                with zipfile.ZipFile(path) as archive, archive.open(export_member(archive)) as member:
                    head = member.read(64 * 1024)
            except (zipfile.BadZipFile, NotReadable, OSError):
                return False
        text = head_text(head)
        return "<!DOCTYPE HealthData" in text or "<HealthData" in text

    def read(self, path: Path, ctx: ReadContext) -> ReadResult:
        """Stream the export into series; quarantine malformed records and a truncated end."""
        result = ReadResult(path, self.name)
        parser = expat.ParserCreate()
        collector = Collector(parser)
        parser.StartElementHandler = collector.start
        parser.EndElementHandler = collector.end
        parser.EntityDeclHandler = forbid_entity
        parser.UnparsedEntityDeclHandler = forbid_entity
        parser.ExternalEntityRefHandler = forbid_external
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        broken: tuple[int, int, str] | None = None
        try:
            with open_export(path) as fh:
                while chunk := fh.read(CHUNK):
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
            raise NotReadable(f"refused XML entity declaration or external reference: {exc}") from exc
        except expat.ExpatError as exc:
            reason = f"XML breaks off: {expat.errors.messages[exc.code]}; the records before it are kept"
            broken = (exc.lineno, parser.ErrorByteIndex, reason)
            result.notes.append(f"the XML breaks off at line {exc.lineno} ({expat.errors.messages[exc.code]}): "
                                "the file is truncated or damaged; every record before it was read")
        except (zipfile.BadZipFile, EOFError, gzip.BadGzipFile) as exc:
            raise NotReadable(f"damaged archive: {exc}") from exc
        if collector.workout is not None:  # the break fell inside a workout whose start tag was whole
            collector.workout_end()
        tz = ctx.tz or (collector.offsets.most_common(1)[0][0] if collector.offsets else "UTC")
        self._notes(result, collector, tz, given=ctx.tz is not None)
        subject = ctx.subject or subject_from_name(path)
        refused = [*collector.refused, *([broken] if broken else [])]
        result.rejected.extend(Rejected(str(path), f"line {line}", why, str(off)) for line, off, why in refused)
        result.rows_in += len(refused)
        pending = _by_series(collector.groups)
        collector.groups.clear()
        while pending:  # each series' raw columns are released once it is built
            (kind, source), parts = pending.popitem()
            self._series(result, path, subject, kind, source, tz, parts)
        raws = excerpts(path, {int(r.raw) for r in result.rejected})
        result.rejected = [replace(r, raw=raws[int(r.raw)] or "(end of file)") for r in result.rejected]
        return result

    @staticmethod
    def _notes(result: ReadResult, collector: Collector, tz: str, *, given: bool) -> None:
        if collector.unused:
            counts = ", ".join(f"{t} × {n:,}" for t, n in sorted(collector.unused.items()))
            result.notes.append(f"not used (valid, no biomarker reads them): {counts}")
        if len(collector.offsets) > 1:
            counts = ", ".join(f"{o} × {n:,}" for o, n in collector.offsets.most_common())
            chosen = "as given" if given else "the most frequent; pass --tz with an IANA zone to follow DST"
            result.notes.append(f"UTC offsets vary (travel or daylight saving): {counts}; local days use {tz} "
                                f"({chosen})")

    @staticmethod
    def _series(result: ReadResult, path: Path, subject: str, kind: Kind, source: str, tz: str,
                parts: list[tuple[Use, str, Rows]]) -> None:
        spec = SPECS[kind]
        refused: dict[int, str] = {}
        values: list[np.ndarray] = []
        base = 0
        for _use, unit, rows in parts:
            vals = np.frombuffer(rows.value, dtype=np.float64)
            if kind in (Kind.SLEEP_STAGE, Kind.PHYSICAL_ACTIVITY):
                values.append(vals)
            else:
                try:
                    values.append(vals * unit_factor(kind, spec.primary, unit))
                except UnitError as exc:
                    values.append(vals)
                    refused.update({base + i: f"unit: {exc}" for i in range(len(vals))})
            base += len(vals)

        def cat(name: str) -> np.ndarray:
            return np.concatenate([np.frombuffer(getattr(r, name), dtype=np.int64) for _, _, r in parts])

        start, end, lines, offsets = cat("start"), cat("end"), cat("line"), cat("offset")
        labels = np.asarray([x for _, _, r in parts for x in r.label], dtype=object)
        if kind is Kind.SLEEP_STAGE:
            columns = {"stage": labels}
        elif kind is Kind.PHYSICAL_ACTIVITY:
            columns = {"value": np.concatenate(values), "activity": labels,
                       "distance": np.concatenate([np.frombuffer(r.distance, dtype=np.float64) for *_, r in parts]),
                       "kcal": np.concatenate([np.frombuffer(r.kcal, dtype=np.float64) for *_, r in parts])}
        else:
            columns = {spec.primary: np.concatenate(values)}
        series, stats = tidy(file=str(path), subject=subject, kind=kind, source=source, tz=tz,
                             time=start.view("datetime64[ns]"),
                             end=end.view("datetime64[ns]") if spec.interval else None,
                             columns=columns, where=lambda i: f"line {lines[i]}", raw=lambda i: str(offsets[i]),
                             refused=refused)
        note = parts[0][0].note
        result.add(replace(series, meta={"note": note}) if note else series, stats)


def _by_series(groups: dict[tuple[Use, str, str], Rows]) -> dict[tuple[Kind, str], list[tuple[Use, str, Rows]]]:
    out: dict[tuple[Kind, str], list[tuple[Use, str, Rows]]] = defaultdict(list)
    for (use, source, unit), rows in groups.items():
        out[(use.kind, source + use.suffix)].append((use, unit, rows))
    return out
