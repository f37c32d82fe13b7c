"""The personal baseline on the device, in numpy: robust z of today's key biomarkers against the patient's own
trailing worn days, CUSUM change detection fed one day at a time, and the largest deviations in words.

Same definitions and words as `models.baseline` (both call `models.robust.compare`; the batch version reads a
pandas table, over the edge's memory budget): up to `WINDOW` days before the day, needing `MIN_DAYS` of them
with a worn value. A family's day below `MIN_COVERAGE` is neither compared nor a baseline day. A test checks
both agree on real data, CUSUM shifts included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np

from ..biomarkers.base import coverage_column
from ..biomarkers.trailing import feature_units
from ..models.robust import (
    KEY_BIOMARKERS,
    WINDOW,
    Baseline,
    Cusum,
    Shift,
    choose_deviations,
    compare,
    track_shift,
    worn_only,
)
from ..summary import Deviation

__all__ = ["Baseline", "personal_baseline", "top_deviations", "track_shifts"]


def _coverage_of(name: str) -> str:
    return coverage_column(feature_units()[name][0])


def personal_baseline(today: Mapping[str, float], past: Mapping[str, np.ndarray]) -> Baseline:
    """Today's key biomarkers against the last `WINDOW` worn values before it of each.

    `today` and `past` hold the key biomarkers and their families' coverage columns; a value whose family
    coverage is below `MIN_COVERAGE` counts as missing.
    """
    values = worn_only(np.array([today[name] for name in KEY_BIOMARKERS], dtype=float),
                       np.array([today[_coverage_of(name)] for name in KEY_BIOMARKERS], dtype=float))
    history = np.array([worn_only(np.asarray(past[name], dtype=float), np.asarray(past[_coverage_of(name)]))[-WINDOW:]
                        for name in KEY_BIOMARKERS]).T
    return compare(KEY_BIOMARKERS, values, history)


def track_shifts(cusums: dict[str, Cusum], shifts: dict[str, Shift], baseline: Baseline, day: dt.date) -> None:
    """Feed today's z of every key biomarker to its CUSUM, recording any shift it signals."""
    for name, z in zip(KEY_BIOMARKERS, baseline.z, strict=True):
        shift = track_shift(cusums.setdefault(name, Cusum()), float(z), day, shifts.get(name))
        if shift is not None:
            shifts[name] = shift


def top_deviations(day: dt.date, baseline: Baseline, units: Mapping[str, tuple[str, str]],
                   shifts: Mapping[str, Shift] | None = None) -> list[Deviation]:
    """The largest deviations of the day (`models.robust.choose_deviations`)."""
    return choose_deviations(day, KEY_BIOMARKERS, baseline.values, baseline.z, baseline.median, baseline.days,
                             units, shifts)
