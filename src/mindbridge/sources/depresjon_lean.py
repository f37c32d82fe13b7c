"""A lean reader of the Depresjon CSV format (`timestamp,date,activity`) for the edge's memory budget.

`mindbridge.sources.depresjon` reads the same files through pandas and pyarrow (about 100 MB resident);
the edge reads a day's export with numpy and the standard library only, and hands the rows to the same
`sources.tidy`, so validation and quarantine reasons are the project's. Wall-clock times are local to
Europe/Oslo unless told otherwise: a time inside the spring daylight-saving gap is refused; a time in the
autumn repeated hour is placed by order (first pass summer time, a pass after the clock went back winter
time), and refused when the file holds only one pass. Every refused line goes to quarantine with its
line number and reason.
"""

from __future__ import annotations

import datetime as dt
import gzip
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ..datapoints import Kind, Series, check_timezone, utc_offsets
from .quarantine import Rejected
from .tidy import tidy

HEADER = "timestamp,date,activity"
DEFAULT_TZ = "Europe/Oslo"
DEVICE = "Actiwatch AW4"
_GZIP = b"\x1f\x8b"
_NS = 1_000_000_000


class DepresjonFormatError(ValueError):
    """The file is not a Depresjon actigraphy CSV."""


@dataclass(frozen=True)
class DayRead:
    """What the lean reader produced: the tidy series and the quarantined lines."""

    series: Series
    rejected: list[Rejected]


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == _GZIP:
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DepresjonFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    lines = text.splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise DepresjonFormatError(f"{path}, line 1: expected the header {HEADER!r}")
    return lines[1:]


def _parse(lines: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str]]:
    """Wall-clock times, date column and counts of data lines; reasons for lines that do not parse."""
    n = len(lines)
    wall = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    date = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    value = np.full(n, np.nan)
    reasons: dict[int, str] = {}
    fields = [line.split(",") for line in lines]
    good = [i for i, f in enumerate(fields) if len(f) == 3]
    for i in set(range(n)) - set(good):
        reasons[i] = f"expected 3 fields (timestamp,date,activity), found {len(fields[i])}"
    try:  # fast path: every line parses
        wall[good] = np.array([fields[i][0] for i in good], dtype="datetime64[s]")
        date[good] = np.array([fields[i][1] for i in good], dtype="datetime64[D]")
        value[good] = np.array([fields[i][2] for i in good], dtype=float)
    except ValueError:
        for i in good:
            ts, day, count = fields[i]
            try:
                wall[i], date[i], value[i] = np.datetime64(ts, "s"), np.datetime64(day, "D"), float(count)
            except ValueError:
                reasons[i] = f"unparseable row: timestamp {ts[:30]!r}, date {day[:30]!r}, activity {count[:30]!r}"
    return wall, date, value, reasons


def wall_to_utc(wall: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Naive local times to UTC `datetime64[ns]`, and a mask of times that cannot be placed (NaT stays NaT).

    The zone is asked once per run of samples in the same local quarter hour (offsets change only there).
    """
    check_timezone(tz)
    wall = wall.astype("datetime64[ns]")
    unplaced = np.zeros(len(wall), dtype=bool)
    ok = ~np.isnat(wall)
    if not ok.any():
        return wall.copy(), unplaced
    try:
        zone = ZoneInfo(tz)
    except (ValueError, KeyError):  # a fixed offset such as +02:00
        guess = wall - utc_offsets(wall, tz)
        return np.where(ok, guess, wall), unplaced
    idx = np.flatnonzero(ok)
    quarter = wall[idx].astype("datetime64[15m]").view(np.int64)
    starts = np.flatnonzero(np.r_[True, quarter[1:] != quarter[:-1]])
    seen_before = np.r_[False, quarter[starts][1:] <= np.maximum.accumulate(quarter[starts])[:-1]]
    went_back = bool(seen_before.any())
    offsets = np.zeros(len(starts), dtype=np.int64)
    bad = np.zeros(len(starts), dtype=bool)
    for k, ns in enumerate(wall[idx][starts].view(np.int64)):
        naive = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(ns) // 1000)
        first, second = (naive.replace(tzinfo=zone, fold=f) for f in (0, 1))
        off0, off1 = first.utcoffset() or dt.timedelta(), second.utcoffset() or dt.timedelta()
        back = first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
        # inside the spring gap, or in a repeated hour with a single pass (order cannot tell which)
        bad[k] = back != naive or (off0 != off1 and not went_back)
        offsets[k] = int((off1 if off0 != off1 and seen_before[k] else off0).total_seconds()) * _NS
    lengths = np.diff(np.r_[starts, len(idx)])
    utc = wall.copy()
    utc[idx] = (wall[idx].view(np.int64) - np.repeat(offsets, lengths)).view("datetime64[ns]")
    unplaced[idx] = np.repeat(bad, lengths)
    return utc, unplaced


def read_depresjon_csv(path: Path, subject: str, tz: str = DEFAULT_TZ) -> DayRead:
    """Read one Depresjon actigraphy CSV (plain or gzip) into a tidy activity-counts series."""
    lines = _lines(path)
    wall, date, value, reasons = _parse(lines)
    utc, unplaced = wall_to_utc(wall, tz)
    for i in np.flatnonzero(unplaced):
        reasons.setdefault(int(i), f"local time does not exist or is ambiguous in {tz} (daylight-saving change)")
    mismatch = ~np.isnat(wall) & ~np.isnat(date) & (wall.astype("datetime64[D]") != date)
    for i in np.flatnonzero(mismatch):
        reasons.setdefault(int(i), "date column disagrees with the timestamp")
    series, stats = tidy(file=str(path), subject=subject, kind=Kind.ACTIVITY_COUNTS, source=DEVICE, tz=tz,
                         time=utc, columns={"value": value}, where=lambda i: f"line {i + 2}",
                         raw=lambda i: lines[i], refused=reasons)
    return DayRead(series, stats.rejected)
