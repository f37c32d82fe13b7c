"""The personal baseline on the device, in numpy: robust z of today's biomarkers against the patient's own
trailing median and MAD, and the largest deviations in plain words.

Same definitions and words as `models.baseline` (shared through `models.robust`; the batch version's
rolling windows use pandas, over the edge's memory budget): up to `WINDOW` days before the day, needing
`MIN_DAYS` of them with a value; |z| ≥ `MIN_Z` counts as a deviation. A test checks both agree on real data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..biomarkers.rowstats import row_quantiles
from ..models.robust import KEY_BIOMARKERS, MAD_TO_SD, describe
from ..summary import MAX_DEVIATIONS, Deviation

WINDOW, MIN_DAYS, MIN_Z, TOP = 28, 7, 2.0, 3


def robust_z(today: np.ndarray, past: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: robust z of `today` against the rows of `past` (NaN = no data), the median, the days with data.

    z is NaN with fewer than `MIN_DAYS` days, a zero MAD, or no value today.
    """
    days = np.count_nonzero(~np.isnan(past), axis=0)
    enough = days >= MIN_DAYS
    median = np.where(enough, row_quantiles(past.T, [0.5])[0], np.nan)
    mad = np.where(enough, row_quantiles(np.abs(past - median).T, [0.5])[0], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(enough & (mad > 0), (today - median) / (MAD_TO_SD * mad), np.nan)
    return z, median, days


def top_deviations(today: Mapping[str, float], past: Mapping[str, np.ndarray], units: Mapping[str, tuple[str, str]],
                   features: Sequence[str] = KEY_BIOMARKERS, n: int = TOP) -> list[Deviation]:
    """The `n` largest |robust z| among `features`, today against the trailing `past` values of each."""
    values = np.array([today[name] for name in features], dtype=float)
    history = np.column_stack([np.asarray(past[name], dtype=float)[-WINDOW:] for name in features])
    z, median, days = robust_z(values, history)
    with np.errstate(invalid="ignore"):
        found = np.flatnonzero(np.abs(z) >= MIN_Z)
    out = []
    for j in found[np.argsort(-np.abs(z[found]), kind="stable")][: min(n, MAX_DEVIATIONS)]:
        name, (family, unit) = features[j], units[features[j]]
        out.append(Deviation(biomarker=name, family=family, unit=unit, value=float(values[j]),
                             baseline=float(median[j]), robust_z=float(z[j]), days=int(days[j]),
                             text=describe(name, unit, float(values[j]), float(median[j]))))
    return out
