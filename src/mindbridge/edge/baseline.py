"""The personal baseline on the device, in numpy: robust z of today's key biomarkers against the patient's own
trailing median and MAD, CUSUM change detection fed one day at a time, and the largest deviations in words.

Same definitions and words as `models.baseline` (shared through `models.robust`; the batch version's
rolling windows use pandas, over the edge's memory budget): up to `WINDOW` days before the day, needing
`MIN_DAYS` of them with a value. A test checks both agree on real data, CUSUM shifts included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..biomarkers.rowstats import row_quantiles
from ..models.robust import KEY_BIOMARKERS, MAD_TO_SD, Cusum, Shift, choose_deviations, track_shift
from ..summary import Deviation

WINDOW, MIN_DAYS = 28, 7


@dataclass(frozen=True)
class Baseline:
    """Today's value, robust z, trailing median and days with data of each of `KEY_BIOMARKERS`."""

    values: np.ndarray
    z: np.ndarray
    median: np.ndarray
    days: np.ndarray


def robust_z(today: np.ndarray, past: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: robust z of `today` against the rows of `past` (NaN = no data), the median, the days with data.

    z is NaN with fewer than `MIN_DAYS` days, a zero MAD, or no value today.
    """
    days = (~np.isnan(past)).sum(axis=0)
    enough = days >= MIN_DAYS
    median = np.where(enough, row_quantiles(past.T, [0.5])[0], np.nan)
    mad = np.where(enough, row_quantiles(np.abs(past - median).T, [0.5])[0], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(enough & (mad > 0), (today - median) / (MAD_TO_SD * mad), np.nan)
    return z, median, days


def personal_baseline(today: Mapping[str, float], past: Mapping[str, np.ndarray]) -> Baseline:
    """Today's key biomarkers against the last `WINDOW` values before it of each."""
    values = np.array([today[name] for name in KEY_BIOMARKERS], dtype=float)
    history = np.array([np.asarray(past[name], dtype=float)[-WINDOW:] for name in KEY_BIOMARKERS]).T
    return Baseline(values, *robust_z(values, history))


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
