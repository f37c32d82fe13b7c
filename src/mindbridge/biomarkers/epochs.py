"""Regular epoch grids of activity in local time, shared by the activity, circadian and sleep families.

A grid lays one subject's counts (or steps) on a `(days, epochs per day)` array of local wall-clock
time, from the midnight before the first sample to the midnight after the last, with NaN where there
is no sample. Every family then works on whole arrays instead of per-sample loops.

Epoch length is inferred as the most common positive gap between samples, and must divide a day.
At the autumn daylight-saving change the repeated wall-clock hour keeps its first pass; at the spring
change the skipped hour stays NaN (missing), never filled.

Non-wear rule: a run of exact zeros lasting at least `NONWEAR_MINUTES` (120 min) is non-wear, whatever
the time of day. It is reported in coverage and excluded from every feature, so it never counts as
sleep or as inactivity. On Depresjon (Actiwatch AW4) zero runs of 2 h or more start at every hour of
the day with no excess at night, so sleep does not produce them on that device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..datapoints import SPECS, Kind, Series

DAY_S = 86_400
NONWEAR_MINUTES = 120
_NS = 1_000_000_000


class EpochError(ValueError):
    """A series cannot be laid on a regular epoch grid."""


@dataclass(frozen=True)
class EpochGrid:
    """One subject's counts per epoch on a local-time grid: `counts[day, epoch]`, NaN where missing.

    `worn` is False on missing epochs and on non-wear; `counts` keeps the raw values (zeros of
    non-wear included) so that callers choose whether to mask them.
    """

    first_day: np.datetime64
    epoch_s: int
    counts: np.ndarray
    worn: np.ndarray

    @property
    def per_day(self) -> int:
        """Epochs per day."""
        return DAY_S // self.epoch_s

    @property
    def n_days(self) -> int:
        """Number of local days on the grid."""
        return int(self.counts.shape[0])

    @property
    def days(self) -> pd.DatetimeIndex:
        """The grid's local days at midnight, named `date`."""
        days = self.first_day + np.arange(self.n_days).astype("timedelta64[D]")
        return pd.DatetimeIndex(days.astype("datetime64[ns]"), name="date")

    @property
    def epoch_minutes(self) -> float:
        """Epoch length in minutes."""
        return self.epoch_s / 60.0

    def masked(self) -> np.ndarray:
        """Counts with non-wear and missing epochs set to NaN."""
        return np.where(self.worn, self.counts, np.nan)

    def coverage(self) -> np.ndarray:
        """Fraction of each day's epochs that are present and worn."""
        return np.asarray(self.worn.mean(axis=1), dtype=float)


def infer_epoch(times_ns: np.ndarray) -> int:
    """The epoch length in whole seconds: the most common positive gap between sorted times."""
    gaps = np.diff(np.asarray(times_ns, dtype=np.int64))
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        raise EpochError("cannot infer the epoch length from fewer than two distinct times")
    values, counts = np.unique(gaps, return_counts=True)
    epoch_ns = int(values[np.argmax(counts)])
    if epoch_ns % _NS or DAY_S % (epoch_ns // _NS):
        raise EpochError(f"epoch of {epoch_ns / _NS:g} s does not divide a day into whole epochs")
    return epoch_ns // _NS


def nonwear(counts: np.ndarray, epoch_s: int, minutes: float = NONWEAR_MINUTES) -> np.ndarray:
    """Mask of epochs inside runs of exact zeros lasting at least `minutes` (NaN breaks a run)."""
    flat = np.asarray(counts, dtype=float).ravel()
    zero = np.r_[False, flat == 0, False]
    edges = np.diff(zero.astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = (ends - starts) * epoch_s >= minutes * 60
    marks = np.zeros(len(flat) + 1, dtype=np.int32)
    np.add.at(marks, starts[long], 1)
    np.add.at(marks, ends[long], -1)
    return (np.cumsum(marks[:-1]) > 0).reshape(np.shape(counts))


def main_activity(series: Sequence[Series]) -> Series:
    """The series a subject's activity features come from: the longest counts series, else the longest steps."""
    counts = [s for s in series if s.kind is Kind.ACTIVITY_COUNTS]
    return max(counts or list(series), key=len)


def epoch_grid(series: Series, epoch_s: int | None = None, *, detect_nonwear: bool = True) -> EpochGrid:
    """Lay a counts or steps series on its local-time epoch grid and flag non-wear.

    Point samples go to the epoch they start; interval samples (steps) are summed into the epoch their
    interval starts, and epochs between the first and last record with no record count as zero steps
    (phones write step records only when there are steps).
    """
    if len(series) == 0:
        raise EpochError(f"{series.subject}/{series.kind}: empty series")
    local = series.local_time().view(np.int64)
    epoch = epoch_s or (infer_epoch(local) if len(series) > 1 else 60)
    if DAY_S % epoch:
        raise EpochError(f"epoch of {epoch} s does not divide a day into whole epochs")
    day0 = local[0] // (DAY_S * _NS)
    n_days = int(local[-1] // (DAY_S * _NS) - day0 + 1)
    slot = local // (epoch * _NS) - day0 * (DAY_S // epoch)
    size = n_days * (DAY_S // epoch)
    values = np.asarray(series.values, dtype=float)
    counts = np.full(size, np.nan)
    if SPECS[series.kind].interval:
        present = np.zeros(size, dtype=bool)
        present[slot[0]:slot[-1] + 1] = True
        counts[present] = np.bincount(slot, weights=values, minlength=size)[present]
    else:
        if len(slot) > 1 and bool(np.any(np.diff(slot) <= 0)):
            slot, first = np.unique(slot, return_index=True)
            values = values[first]
        counts[slot] = values
    grid = counts.reshape(n_days, -1)
    worn = ~np.isnan(grid)
    if detect_nonwear:
        worn &= ~nonwear(grid, epoch)
    return EpochGrid(np.datetime64(int(day0), "D"), int(epoch), grid, worn)
