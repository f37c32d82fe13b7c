"""Map one schema-valid Open mHealth / IEEE 1752.1 body to a canonical row (kind, UTC times, values).

Times: `effective_time_frame` is a `date_time` or a `time_interval` given by start and end, start and
duration, or end and duration; all become UTC nanoseconds, and the UTC offset written in the document is
kept so the series can rebuild local time. A `date` + `part_of_day` interval has no clock times and is
refused rather than guessed. Durations in months or years use UCUM's Julian month and year.

Values go to each kind's canonical unit through `units.factor`. Summaries are kept apart from raw
samples by a label that the reader appends to the source name: a `descriptive_statistic` (e.g. a daily
average heart rate) or a sleep total (sleep-duration, total-sleep-time, which map onto SLEEP_EPISODE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..datapoints import Kind
from .units import factor

NS_PER = {"ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6, "sec": 1e9, "min": 60e9, "h": 3600e9,
          "d": 86400e9, "wk": 7 * 86400e9, "Mo": 30.4375 * 86400e9, "yr": 365.25 * 86400e9}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SLEEP_EPISODE_ONLY = ("latency_to_sleep_onset", "latency_to_arising", "wake_after_sleep_onset",
                      "number_of_awakenings", "sleep_maintenance_efficiency_percentage",
                      "sleep_efficiency_percentage", "light_sleep_duration", "deep_sleep_duration",
                      "rem_sleep_duration")


class Unmappable(ValueError):
    """A schema-valid body that cannot become a measurement; the message says why."""


@dataclass(frozen=True)
class Row:
    """One measurement: its kind, UTC start (and end) in ns, the document's UTC offset, values, label."""

    kind: Kind
    start: int
    end: int | None
    offset: str
    values: Mapping[str, float | str]
    label: str = ""


def parse_date_time(text: str) -> tuple[int, str]:
    """An RFC 3339 date-time as UTC nanoseconds and its offset ('UTC' or '+HH:MM')."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Unmappable(f"unparseable date-time {text!r}") from exc
    offset = moment.utcoffset()
    if offset is None:
        raise Unmappable(f"date-time {text!r} has no UTC offset")
    delta = moment - _EPOCH
    ns = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return ns, _offset_name(offset)


def _offset_name(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def duration_ns(duration: Mapping[str, Any]) -> int:
    """A duration-unit-value in nanoseconds."""
    unit = duration["unit"]
    if unit not in NS_PER:
        raise Unmappable(f"unknown duration unit {unit!r}")
    return round(float(duration["value"]) * NS_PER[unit])


def time_frame(frame: Mapping[str, Any] | None) -> tuple[int, int | None, str]:
    """An effective_time_frame as (start ns, end ns or None for a point in time, offset)."""
    if frame is None:
        raise Unmappable("no effective_time_frame: the measurement cannot be placed in time")
    if "date_time" in frame:
        ns, offset = parse_date_time(frame["date_time"])
        return ns, None, offset
    interval = frame["time_interval"]
    if "start_date_time" in interval:
        start, offset = parse_date_time(interval["start_date_time"])
        if "end_date_time" in interval:
            end = parse_date_time(interval["end_date_time"])[0]
        else:
            end = start + duration_ns(interval["duration"])
        return start, end, offset
    if "end_date_time" in interval:
        end, offset = parse_date_time(interval["end_date_time"])
        return end - duration_ns(interval["duration"]), end, offset
    raise Unmappable("time interval given as a date and part of day has no clock times")


def _quantity(kind: Kind, column: str, unit_value: Mapping[str, Any] | None) -> float:
    if unit_value is None:
        return math.nan
    return float(unit_value["value"]) * factor(kind, column, str(unit_value["unit"]))


def _interval(kind: Kind, frame: Mapping[str, Any] | None) -> tuple[int, int, str]:
    start, end, offset = time_frame(frame)
    if end is None:
        raise Unmappable(f"{kind.value} needs a time interval, not a single date_time")
    return start, end, offset


def _label(body: Mapping[str, Any], summary: str = "") -> str:
    parts = [summary] if summary else []
    if "descriptive_statistic" in body:
        parts.append(str(body["descriptive_statistic"]))
    return ", ".join(parts)


def _point(kind: Kind, field: str) -> Callable[[Mapping[str, Any]], Row]:
    """A point kind whose value is a unit-value under `field`; an interval frame is placed at its start."""

    def mapper(body: Mapping[str, Any]) -> Row:
        start, _, offset = time_frame(body.get("effective_time_frame"))
        return Row(kind, start, None, offset, {"value": _quantity(kind, "value", body[field])}, _label(body))

    return mapper


def _steps(body: Mapping[str, Any]) -> Row:
    start, end, offset = _interval(Kind.STEPS, body.get("effective_time_frame"))
    count = body["step_count"]
    value = _quantity(Kind.STEPS, "value", count) if isinstance(count, Mapping) else float(count)
    return Row(Kind.STEPS, start, end, offset, {"value": value}, _label(body))


def _activity(body: Mapping[str, Any]) -> Row:
    kind = Kind.PHYSICAL_ACTIVITY
    start, end, offset = _interval(kind, body.get("effective_time_frame"))
    values: dict[str, float | str] = {
        "value": (end - start) / NS_PER["min"], "distance": _quantity(kind, "distance", body.get("distance")),
        "kcal": _quantity(kind, "kcal", body.get("kcal_burned")), "activity": str(body["activity_name"])}
    return Row(kind, start, end, offset, values, _label(body))


def _sleep_episode(body: Mapping[str, Any]) -> Row:
    """Minutes asleep: total_sleep_time, else the episode less its latencies and wake after onset."""
    kind = Kind.SLEEP_EPISODE
    start, end, offset = _interval(kind, body.get("effective_time_frame"))
    if "total_sleep_time" in body:
        asleep = _quantity(kind, "value", body["total_sleep_time"])
    else:
        awake = ("latency_to_sleep_onset", "latency_to_arising", "wake_after_sleep_onset")
        asleep = (end - start) / NS_PER["min"] - sum(_quantity(kind, "value", body[k]) for k in awake if k in body)
    return Row(kind, start, end, offset, {"value": asleep, "in_bed": 1.0}, _label(body))


def _sleep_total(field: str) -> Callable[[Mapping[str, Any]], Row]:
    """A sleep total over a window (sleep-duration, total-sleep-time); `in_bed` is unknown."""

    def mapper(body: Mapping[str, Any]) -> Row:
        kind = Kind.SLEEP_EPISODE
        start, end, offset = _interval(kind, body.get("effective_time_frame"))
        values = {"value": _quantity(kind, "value", body[field]), "in_bed": math.nan}
        return Row(kind, start, end, offset, values, _label(body, field.replace("_", "-")))

    return mapper


def _geoposition(body: Mapping[str, Any]) -> Row:
    kind = Kind.GPS_FIX
    start, _, offset = time_frame(body.get("effective_time_frame"))
    values = {"latitude": _quantity(kind, "latitude", body["latitude"]),
              "longitude": _quantity(kind, "longitude", body["longitude"]), "accuracy": math.nan}
    return Row(kind, start, None, offset, values)


MAPPERS: dict[str, Callable[[Mapping[str, Any]], Row]] = {
    "heart-rate": _point(Kind.HEART_RATE, "heart_rate"),
    "rr-interval": _point(Kind.RR_INTERVAL, "rr_interval"),
    "blood-glucose": _point(Kind.GLUCOSE, "blood_glucose"),
    "step-count": _steps,
    "physical-activity": _activity,
    "sleep-episode": _sleep_episode,
    "sleep-duration": _sleep_total("sleep_duration"),
    "total-sleep-time": _sleep_total("total_sleep_time"),
    "geoposition": _geoposition,
}

# The field that identifies a body's schema when no header names it, in the order they are tried.
IDENTIFYING = (("heart_rate", "heart-rate"), ("step_count", "step-count"), ("rr_interval", "rr-interval"),
               ("blood_glucose", "blood-glucose"), ("sleep_duration", "sleep-duration"),
               ("activity_name", "physical-activity"), ("latitude", "geoposition"), ("longitude", "geoposition"))


def infer_name(body: Mapping[str, Any]) -> str | None:
    """The schema name a bare body looks like, from its fields (None when it looks like none)."""
    for key, name in IDENTIFYING:
        if key in body:
            return name
    if any(k in body for k in SLEEP_EPISODE_ONLY):
        return "sleep-episode"
    if "total_sleep_time" in body:
        return "total-sleep-time"
    return None
