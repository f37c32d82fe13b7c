"""A day's actigraphy biomarkers as a device knows them on that day: from the trailing window of minute counts.

The device (`edge`) keeps the last `TRAILING_DAYS` days of minute counts and computes the newest day's
features over them (`newest_day`), calling the families' own numpy column functions on an epoch grid of the
window, so a day's features are by construction those the batch pipeline computes over the same trailing
days (tested to 1e-9). Training reads the same features (`trailing_table`: every day of a recording over its
own trailing window), so the model sees what the device computes and no minute after the day: a batch run
over a whole recording differs in non-wear and the sleep scorer's device scale (both read the activity
level of all the counts they are given, later days included) and, at midnight, in the pairs that reach into
the next day (lag-1 autocorrelation, transition rates, sleep regularity). docs/models.md measures by how much.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from ..datapoints import Kind, Series
from .activity import FEATURES as ACTIVITY
from .activity import activity_columns
from .activity_profile import FEATURES as PROFILE
from .activity_profile import profile_columns
from .base import Feature, coverage_column
from .circadian import FEATURES as CIRCADIAN
from .circadian import WINDOW_DAYS, day_columns, hourly_counts, stability_variability
from .epochs import EpochGrid, epoch_grid, infer_epoch, nonwear
from .sleep import FEATURES as SLEEP
from .sleep import sleep_columns
from .sleep_scoring import REFERENCE_DEVICES

if TYPE_CHECKING:
    import pandas as pd

EPOCH_S = 60
PER_DAY = 1440
TRAILING_DAYS = 7  # the device's window of minute counts, and the window of every training day
# Whole-recording statistics have no meaning on a sliding window (and the model leaves them out).
RECORDING_WIDE = frozenset({"interdaily_stability", "intradaily_variability", "m10_recording", "l5_recording",
                            "relative_amplitude_recording"})
# The activity-profile features come from the same activity counts as the activity family, so they travel
# (and are consented to) under "activity".
FAMILY_FEATURES: dict[str, tuple[Feature, ...]] = {
    "activity": ACTIVITY + PROFILE, "circadian": tuple(f for f in CIRCADIAN if f.name not in RECORDING_WIDE),
    "sleep": SLEEP}
FAMILIES = tuple(FAMILY_FEATURES)
COLUMNS: tuple[str, ...] = tuple(f.name for fs in FAMILY_FEATURES.values() for f in fs) + tuple(
    coverage_column(name) for name in FAMILIES)


@cache
def feature_units() -> Mapping[str, tuple[str, str]]:
    """(family, UCUM unit) of every feature the edge computes (built once, read-only)."""
    return MappingProxyType({f.name: (family, f.unit) for family, fs in FAMILY_FEATURES.items() for f in fs})


def window_grid(counts: np.ndarray, first_day: dt.date) -> EpochGrid:
    """Minute counts `(days, 1440)` (NaN missing) as an epoch grid with non-wear flagged, leading empty days cut."""
    rows = (~np.isnan(counts).all(axis=1)).nonzero()[0]
    start = int(rows[0]) if len(rows) else len(counts) - 1
    kept = counts[start:]
    worn = ~np.isnan(kept) & ~nonwear(kept, EPOCH_S)
    return EpochGrid(np.datetime64(first_day, "D") + start, EPOCH_S, kept, worn)


def newest_day(counts: np.ndarray, first_day: dt.date, source: str) -> dict[str, float]:
    """Every activity, circadian, sleep and activity-profile feature of the window's last day, with coverage.

    Sleep features belong to the night that ends on that day (noon to noon); a day without any sample gets
    NaN features and zero coverage.
    """
    if counts.ndim != 2 or counts.shape[1] != PER_DAY:
        raise ValueError(f"expected minute counts of shape (days, {PER_DAY}), got {counts.shape}")
    out = dict.fromkeys(COLUMNS, np.nan)
    for name in FAMILIES:
        out[coverage_column(name)] = 0.0
    if np.isnan(counts[-1]).all():
        return out
    grid = window_grid(counts, first_day)
    last = grid.last_days(1)
    _, activity = activity_columns(last)
    circadian = day_columns(last)  # per-day measures need the day alone; IS and IV need the window
    stability, variability = stability_variability(hourly_counts(grid), WINDOW_DAYS)
    circadian.update(interdaily_stability_7d=stability[-1:], intradaily_variability_7d=variability[-1:])
    days, sleep = sleep_columns(grid, "cole-kripke", 1.0 if source in REFERENCE_DEVICES else None,
                                skip=grid.n_days - 1)
    # Every profile feature is the day's own but the day-to-day autocorrelation, which needs the day before.
    recent = grid.last_days(2)
    _, profile = profile_columns(recent, skip=recent.n_days - 1)
    for columns in (activity, circadian, profile):
        out.update({k: float(v[-1]) for k, v in columns.items() if k in out})
    at = (days == grid.days[-1]).nonzero()[0]
    if len(at):
        out.update({k: float(v[at[0]]) for k, v in sleep.items()})
    return out


def minute_grid(series: Series) -> EpochGrid:
    """A series of minute activity counts on its local-time minute grid (non-wear not flagged); ValueError
    naming the subject for another kind or epoch."""
    if series.kind is not Kind.ACTIVITY_COUNTS:
        raise ValueError(f"{series.subject}: minute activity counts expected, got {series.kind}")
    if len(series) > 1 and (epoch := infer_epoch(series.time.view(np.int64))) != EPOCH_S:
        raise ValueError(f"{series.subject}: epochs of {epoch} s, {EPOCH_S} s expected")
    return epoch_grid(series, EPOCH_S, detect_nonwear=False)


def trailing_table(series: Series, window_days: int = TRAILING_DAYS) -> pd.DataFrame:
    """Every local day of a minute activity-counts series with its features over its own trailing window
    (`newest_day` on the day and the `window_days - 1` calendar days before it): columns subject, date,
    `COLUMNS`. A day without samples inside the recording gets a row of NaN features and zero coverage."""
    import pandas as pd

    grid = minute_grid(series)
    first = grid.days[0].astype(dt.date)
    rows = []
    for day in range(grid.n_days):
        start = max(0, day - window_days + 1)
        values = newest_day(grid.counts[start:day + 1], first + dt.timedelta(days=start), series.source)
        rows.append({"subject": series.subject, "date": first + dt.timedelta(days=day), **values})
    table = pd.DataFrame(rows, columns=["subject", "date", *COLUMNS])
    table["date"] = pd.to_datetime(table["date"])
    return table
