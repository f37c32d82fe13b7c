"""Local-day arithmetic shared by the event, interval and sample families (vectorised numpy).

Days are calendar days of the source's time zone. Interval lengths are measured in real (UTC) time, so a
daylight-saving day has 23 or 25 hours and an interval crossing local midnight is split between its days.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Series

NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_H = 60 * NS_PER_MIN


def merged(series: Sequence[Series], columns: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Concatenate several series sorted by time: (UTC nanoseconds as int64, the named columns)."""
    if not series:
        return np.empty(0, np.int64), {c: np.empty(0) for c in columns}
    utc = np.concatenate([s.time.view(np.int64) for s in series])
    order = np.argsort(utc, kind="stable")
    cols = {c: np.concatenate([np.asarray(s.columns[c]) if c in s.columns else np.full(len(s), np.nan)
                               for s in series])[order] for c in columns}
    return utc[order], cols


def local_day(utc_ns: int, tz: str) -> np.datetime64:
    """The local calendar day (datetime64[D]) of one UTC instant in zone `tz`."""
    stamp = pd.Timestamp(int(utc_ns), tz="UTC").tz_convert(tz)
    return np.datetime64(stamp.date(), "D")


def days_spanning(first_ns: int, last_ns: int, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Every local day from the one holding `first_ns` to the one holding `last_ns`, and their UTC bounds."""
    first, last = local_day(first_ns, tz), local_day(last_ns, tz)
    days = np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]")
    return days, day_bounds(days, tz)


def day_index(utc_ns: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Index of the local day holding each UTC instant, given the days' bounds (-1 / n when outside)."""
    return np.searchsorted(bounds, utc_ns, side="right") - 1


def wall_clock_utc(days: np.ndarray, tz: str, hours: float = 0.0) -> np.ndarray:
    """UTC nanoseconds of the local wall-clock time `hours` after each day's midnight in zone `tz`."""
    wall = days.astype("datetime64[ns]") + np.timedelta64(round(hours * NS_PER_H), "ns")
    idx = pd.DatetimeIndex(wall).tz_localize(tz, ambiguous=np.ones(len(wall), bool), nonexistent="shift_forward")
    return idx.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)


def day_bounds(days: np.ndarray, tz: str) -> np.ndarray:
    """UTC nanoseconds of each day's local midnight followed by the next one (length len(days) + 1)."""
    ext = np.append(days, days[-1] + np.timedelta64(1, "D")) if len(days) else days
    return wall_clock_utc(ext, tz)


def split_by_day(start: np.ndarray, end: np.ndarray,
                 bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut UTC intervals [start, end) at day boundaries: (interval index, day index, piece start, piece end).

    Parts outside the days that `bounds` covers are discarded.
    """
    ndays = len(bounds) - 1
    first = np.searchsorted(bounds, start, side="right") - 1
    last = np.searchsorted(bounds, end, side="left") - 1
    first = np.clip(first, 0, max(ndays - 1, 0))
    last = np.clip(last, -1, ndays - 1)
    count = np.maximum(last - first + 1, 0)
    owner = np.repeat(np.arange(len(start)), count)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    day = first[owner] + offset
    piece_start = np.maximum(start[owner], bounds[day])
    piece_end = np.minimum(end[owner], bounds[day + 1])
    keep = piece_end > piece_start
    return owner[keep], day[keep], piece_start[keep], piece_end[keep]


def overlap(start: np.ndarray, end: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Length of the overlap of [start, end) with [lo, hi), element-wise (0 when disjoint)."""
    return np.maximum(np.minimum(end, hi) - np.maximum(start, lo), 0)


def grouped_quantile(codes: np.ndarray, values: np.ndarray, n: int, q: float) -> np.ndarray:
    """The q-quantile (linear interpolation) of `values` within each group 0..n-1; NaN for empty groups."""
    ok = ~np.isnan(values)
    codes, values = codes[ok], values[ok]
    order = np.lexsort((values, codes))
    sorted_values = values[order]
    count = np.bincount(codes, minlength=n)
    start = np.cumsum(count) - count
    out = np.full(n, np.nan)
    has = count > 0
    pos = start[has] + q * (count[has] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    out[has] = sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])
    return out


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den element-wise, NaN where den is 0."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def span_fraction(first_ns: int, last_ns: int, bounds: np.ndarray) -> np.ndarray:
    """Fraction of each day (given its bounds) that lies inside the recording span [first_ns, last_ns)."""
    return overlap(np.array(first_ns), np.array(last_ns), bounds[:-1], bounds[1:]) / np.diff(bounds)


def labels(series: Series, column: str, allowed: Sequence[str]) -> np.ndarray:
    """A categorical column lower-cased, refusing a missing column or values outside `allowed` by name."""
    where = f"{series.kind} series of {series.subject!r} from {series.source!r}"
    if column not in series.columns:
        raise ValueError(f"{where}: column {column!r} is missing; expected values {list(allowed)}")
    values = np.asarray(series.columns[column], dtype=str).copy()
    odd = ~np.isin(values, allowed)
    values[odd] = np.char.lower(values[odd])
    bad = np.unique(values[~np.isin(values, allowed)])
    if len(bad):
        raise ValueError(f"{where}: column {column!r} holds {bad.tolist()[:5]}; expected one of {list(allowed)}")
    return values


def labelled_events(series: Sequence[Series], column: str, allowed: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTC nanoseconds and validated labels of several series merged in time order (same order as `merged`)."""
    utc = np.concatenate([s.time.view(np.int64) for s in series])
    values = np.concatenate([labels(s, column, allowed) for s in series])
    order = np.argsort(utc, kind="stable")
    return utc[order], values[order]
