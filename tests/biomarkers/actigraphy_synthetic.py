"""Synthetic activity-count series for the activity, circadian and sleep tests: answers known by construction."""

from __future__ import annotations

import numpy as np

from mindbridge.datapoints import Kind, Series


def counts_series(counts: np.ndarray, *, start: str = "2024-03-04T00:00", epoch_s: int = 60, tz: str = "UTC",
                  source: str = "test-device") -> Series:
    """A counts series of consecutive epochs starting at local `start` (UTC offset of `tz` must be fixed)."""
    values = np.asarray(counts, dtype=float)
    times = np.datetime64(start, "ns") + np.arange(len(values)) * np.timedelta64(epoch_s, "s")
    return Series(subject="s1", kind=Kind.ACTIVITY_COUNTS, source=source, tz=tz,
                  time=times.astype("datetime64[ns]"), columns={"value": values})


def day_pattern(days: int, epoch_s: int, by_hour: dict[tuple[float, float], float], rest: float) -> np.ndarray:
    """`days` identical days: the count per epoch is `by_hour[(from, to)]` in those clock hours, else `rest`."""
    hours = np.arange(86_400 // epoch_s) * epoch_s / 3600.0
    day = np.full(len(hours), rest, dtype=float)
    for (lo, hi), value in by_hour.items():
        day[(hours >= lo) & (hours < hi)] = value
    return np.tile(day, days)
