"""The canonical measurement: a typed, columnar time series (IEEE 1752.1 / Open mHealth shaped).

A `Series` holds one subject's measurements of one kind from one source device. Time is kept as
UTC nanoseconds (`datetime64[ns]`) together with the source's time zone, so local days can be rebuilt
exactly, daylight-saving transitions included. Values are numpy columns, never per-sample objects.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

if TYPE_CHECKING:  # pandas is imported only where a frame is built: the edge runtime runs without it
    import pandas as pd


class Kind(enum.StrEnum):
    """What a series measures; each kind has one canonical UCUM unit and a fixed set of columns."""

    ACTIVITY_COUNTS = "activity_counts"
    STEPS = "steps"
    HEART_RATE = "heart_rate"
    RR_INTERVAL = "rr_interval"
    HRV_SDNN = "hrv_sdnn"
    SLEEP_EPISODE = "sleep_episode"
    SLEEP_STAGE = "sleep_stage"
    PHYSICAL_ACTIVITY = "physical_activity"
    GPS_FIX = "gps_fix"
    SCREEN_EVENT = "screen_event"
    CALL_EVENT = "call_event"
    MESSAGE_EVENT = "message_event"
    KEYSTROKE_EVENT = "keystroke_event"
    AUDIO_FILE = "audio_file"
    SURVEY_RESPONSE = "survey_response"
    GLUCOSE = "glucose"
    FREE_TEXT = "free_text"
    HORMONE = "hormone"


@dataclass(frozen=True)
class KindSpec:
    """The contract of one kind: its columns with their units, and plausible value bounds."""

    unit: str
    columns: Mapping[str, str]
    interval: bool = False
    bounds: tuple[float, float] | None = None
    description: str = ""
    identity: tuple[str, ...] = ()  # columns that tell apart samples sharing a time (e.g. survey item)

    @property
    def primary(self) -> str:
        """The column that carries the kind's main value."""
        return next(iter(self.columns))


# Columns map name -> UCUM unit ("1" for dimensionless, "" for categorical / text).
SPECS: dict[Kind, KindSpec] = {
    Kind.ACTIVITY_COUNTS: KindSpec("{counts}", {"value": "{counts}"}, bounds=(0, 1e6),
                                   description="accelerometer activity counts per epoch"),
    Kind.STEPS: KindSpec("{steps}", {"value": "{steps}"}, interval=True, bounds=(0, 1e5),
                         description="steps counted over an interval"),
    Kind.HEART_RATE: KindSpec("/min", {"value": "/min"}, bounds=(20, 250),
                              description="heart rate in beats per minute"),
    Kind.RR_INTERVAL: KindSpec("ms", {"value": "ms"}, bounds=(200, 3000),
                               description="interval between successive R peaks"),
    Kind.HRV_SDNN: KindSpec("ms", {"value": "ms"}, bounds=(0, 500),
                            description="heart-rate variability, SDNN over a short window"),
    Kind.SLEEP_EPISODE: KindSpec("min", {"value": "min", "in_bed": "1"}, interval=True, bounds=(0, 24 * 60),
                                 description="a sleep episode; value is its duration asleep"),
    Kind.SLEEP_STAGE: KindSpec("", {"stage": ""}, interval=True,
                               description="a sleep stage interval (awake, asleep, light, deep, rem, in_bed)"),
    Kind.PHYSICAL_ACTIVITY: KindSpec("min", {"value": "min", "distance": "m", "kcal": "kcal", "activity": ""},
                                     interval=True, bounds=(0, 24 * 60),
                                     description="a bout of named physical activity; value is its duration"),
    Kind.GPS_FIX: KindSpec("deg", {"latitude": "deg", "longitude": "deg", "accuracy": "m"},
                           description="a geographic position fix (WGS 84)"),
    Kind.SCREEN_EVENT: KindSpec("", {"event": ""}, description="screen on / off / unlock events"),
    Kind.CALL_EVENT: KindSpec("s", {"duration": "s", "direction": ""}, bounds=(0, 86400),
                              description="a phone call, content-free: direction (incoming/outgoing/missed), duration"),
    Kind.MESSAGE_EVENT: KindSpec("", {"direction": ""},
                                 description="a text message, content-free: direction (incoming/outgoing)"),
    Kind.KEYSTROKE_EVENT: KindSpec("", {"key_class": ""},
                                   description="content-free key press class (alphanumeric, backspace, ...)"),
    Kind.AUDIO_FILE: KindSpec("", {"path": ""}, description="a voice recording kept on the device"),
    Kind.SURVEY_RESPONSE: KindSpec("{score}", {"value": "{score}", "item": ""}, identity=("item",),
                                   description="an answer to a questionnaire item (item holds its code)"),
    Kind.GLUCOSE: KindSpec("mg/dL", {"value": "mg/dL"}, bounds=(10, 1000),
                           description="blood or interstitial glucose"),
    Kind.FREE_TEXT: KindSpec("", {"text": ""}, description="journal or EMA free text, kept on the device"),
    Kind.HORMONE: KindSpec("nmol/L", {"value": "nmol/L", "analyte": ""}, bounds=(0, 1e4), identity=("analyte",),
                           description="a hormone concentration (e.g. wearable or salivary cortisol)"),
}


class SeriesError(ValueError):
    """A series was built from inconsistent parts."""


def check_timezone(tz: str) -> str:
    """Return `tz` when it is an IANA zone name or a fixed offset like '+02:00'; raise otherwise."""
    if _fixed_offset_seconds(tz) is not None:
        return tz
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SeriesError(f"unknown time zone {tz!r}: use an IANA name such as 'Europe/Oslo' or '+02:00'") from exc
    return tz


def _fixed_offset_seconds(tz: str) -> int | None:
    if tz in ("UTC", "Z"):
        return 0
    if len(tz) == 6 and tz[0] in "+-" and tz[3] == ":" and tz[1:3].isdigit() and tz[4:].isdigit():
        sign = 1 if tz[0] == "+" else -1
        return sign * (int(tz[1:3]) * 3600 + int(tz[4:]) * 60)
    return None


@dataclass(frozen=True, eq=False)
class Series:
    """One subject's measurements of one kind from one source, sorted by time.

    `time` is `datetime64[ns]` in UTC; `end` (interval kinds only) likewise. `tz` is the source's zone,
    used to rebuild local time. `columns` holds one numpy array per column named by the kind's spec.
    """

    subject: str
    kind: Kind
    source: str
    tz: str
    time: np.ndarray
    columns: Mapping[str, np.ndarray]
    end: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = SPECS[self.kind]
        check_timezone(self.tz)
        if self.time.dtype != np.dtype("datetime64[ns]"):
            raise SeriesError(f"time must be datetime64[ns] UTC, got {self.time.dtype}")
        n = len(self.time)
        unknown = set(self.columns) - set(spec.columns)
        if unknown:
            raise SeriesError(f"{self.kind}: unknown columns {sorted(unknown)}; expected {list(spec.columns)}")
        if spec.primary not in self.columns:
            raise SeriesError(f"{self.kind}: missing column {spec.primary!r}")
        for name, col in self.columns.items():
            if len(col) != n:
                raise SeriesError(f"{self.kind}: column {name!r} has {len(col)} values for {n} times")
        if spec.interval:
            if self.end is None or len(self.end) != n:
                raise SeriesError(f"{self.kind} is an interval kind: `end` must match `time`")
            if self.end.dtype != np.dtype("datetime64[ns]"):
                raise SeriesError(f"end must be datetime64[ns] UTC, got {self.end.dtype}")
        elif self.end is not None:
            raise SeriesError(f"{self.kind} is a point kind: it has no `end`")
        if n > 1 and bool(np.any(np.diff(self.time.view(np.int64)) < 0)):
            raise SeriesError("time must be sorted ascending")

    def __len__(self) -> int:
        return len(self.time)

    def take(self, rows: slice | np.ndarray) -> Series:
        """The samples at `rows` (a slice, a boolean mask or sorted indices), as a series of the same kind."""
        return Series(self.subject, self.kind, self.source, self.tz, self.time[rows],
                      {k: v[rows] for k, v in self.columns.items()}, None if self.end is None else self.end[rows],
                      self.meta)

    @property
    def unit(self) -> str:
        """The UCUM unit of the primary value."""
        return SPECS[self.kind].unit

    @property
    def values(self) -> np.ndarray:
        """The primary value column."""
        return self.columns[SPECS[self.kind].primary]

    def local_time(self) -> np.ndarray:
        """Wall-clock time in the source's zone, as naive `datetime64[ns]`."""
        return self.time + utc_offsets(self.time, self.tz)

    def local_date(self) -> np.ndarray:
        """The local calendar day of every sample, as `datetime64[D]`."""
        return self.local_time().astype("datetime64[D]")

    def span(self) -> tuple[np.datetime64, np.datetime64] | None:
        """First start and last end (UTC), or None for an empty series."""
        if len(self) == 0:
            return None
        last = self.end.max() if self.end is not None else self.time[-1]
        return self.time[0], last

    def to_frame(self) -> pd.DataFrame:
        """The series as a DataFrame with a `time` column (UTC) and, for interval kinds, `end`."""
        import pandas as pd

        data: dict[str, Any] = {"time": self.time}
        if self.end is not None:
            data["end"] = self.end
        data.update(self.columns)
        return pd.DataFrame(data)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, subject: str, kind: Kind, source: str, tz: str,
                   meta: Mapping[str, Any] | None = None) -> Series:
        """Build a series from a DataFrame shaped like `to_frame()`'s output."""
        spec = SPECS[kind]
        end = frame["end"].to_numpy(dtype="datetime64[ns]") if "end" in frame else None
        cols = {c: frame[c].to_numpy() for c in spec.columns if c in frame}
        return cls(subject=subject, kind=kind, source=source, tz=tz,
                   time=frame["time"].to_numpy(dtype="datetime64[ns]"), columns=cols, end=end,
                   meta=dict(meta or {}))


def _offset_seconds(zone: ZoneInfo, unix_seconds: int) -> int:
    return int((dt.datetime.fromtimestamp(unix_seconds, zone).utcoffset() or dt.timedelta()).total_seconds())


def utc_offsets(time: np.ndarray, tz: str) -> np.ndarray:
    """The zone's UTC offset at each instant of UTC `time`, as `timedelta64[ns]`.

    The zone is asked once per UTC day spanned; on a day whose offset changes, the first minute with the
    new offset is found by bisection. (Real zones change their offset at most once a day.)
    """
    fixed = _fixed_offset_seconds(tz)
    if fixed is not None:
        return np.full(len(time), fixed * 1_000_000_000, dtype=np.int64).view("timedelta64[ns]")
    if len(time) == 0:
        return np.zeros(0, dtype="timedelta64[ns]")
    zone = ZoneInfo(tz)
    seconds = time.view(np.int64) // 1_000_000_000
    midnights = np.arange(int(seconds.min()) // 86_400, int(seconds.max()) // 86_400 + 2) * 86_400
    daily = [_offset_seconds(zone, int(m)) for m in midnights]
    change_at, offset = [int(midnights[0])], [daily[0]]
    for d in [k for k in range(len(daily) - 1) if daily[k + 1] != daily[k]]:
        lo, hi = 0, 1440  # the first minute of day d that has the next day's offset
        while lo < hi:
            mid = (lo + hi) // 2
            if _offset_seconds(zone, int(midnights[d]) + mid * 60) == daily[d]:
                lo = mid + 1
            else:
                hi = mid
        change_at.append(int(midnights[d]) + lo * 60)
        offset.append(daily[d + 1])
    which = np.asarray(change_at).searchsorted(seconds, side="right") - 1
    return (np.asarray(offset, dtype=np.int64)[which] * 1_000_000_000).view("timedelta64[ns]")
