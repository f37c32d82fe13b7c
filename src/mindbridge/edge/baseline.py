"""The personal baseline on the device, in numpy: robust z of today's biomarkers against the patient's own
trailing median and MAD, and the largest deviations in plain words.

Same definitions as `models.baseline` (which imports pandas, over the edge's memory budget): robust
z = (value − median) / (1.4826 · MAD) over up to `WINDOW` days before the day, the day excluded, needing
`MIN_DAYS` of them with a value (Leys et al. 2013, "Detecting outliers: do not use standard deviation
around the mean, use absolute deviation around the median"); |z| ≥ `MIN_Z` counts as a deviation; clock
features read "later/earlier", others "higher/lower". A test checks both agree on real data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..summary import MAX_DEVIATIONS, Deviation

MAD_TO_SD = 1.4826
WINDOW, MIN_DAYS, MIN_Z, TOP = 28, 7, 2.0, 3
CLOCK_FEATURES = frozenset({"sleep_onset", "sleep_offset", "sleep_midpoint", "m10_onset", "l5_onset",
                            "cosinor_acrophase"})
KEY_BIOMARKERS: tuple[str, ...] = ("sleep_midpoint", "sleep_total", "sleep_efficiency", "sleep_regularity_index",
                                   "activity_mean", "activity_zero_fraction", "relative_amplitude", "m10", "l5")


def robust_z(today: np.ndarray, past: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: robust z of `today` against the rows of `past` (NaN = no data), the median, the days with data.

    z is NaN with fewer than `MIN_DAYS` days, a zero MAD, or no value today.
    """
    days = np.count_nonzero(~np.isnan(past), axis=0)
    enough = days >= MIN_DAYS
    median = np.full(past.shape[1], np.nan)
    mad = np.full(past.shape[1], np.nan)
    if enough.any():
        median[enough] = np.nanmedian(past[:, enough], axis=0)
        mad[enough] = np.nanmedian(np.abs(past[:, enough] - median[enough]), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(enough & (mad > 0), (today - median) / (MAD_TO_SD * mad), np.nan)
    return z, median, days


def describe(name: str, unit: str, value: float, median: float) -> str:
    """Plain words for one deviation, e.g. 'sleep midpoint 2.1 h later than this patient's usual'."""
    label, diff = name.replace("_", " "), value - median
    words = ("later", "earlier") if name in CLOCK_FEATURES else ("higher", "lower")
    direction = words[0] if diff > 0 else words[1]
    if unit == "min" and abs(diff) >= 90:
        return f"{label} {abs(diff) / 60:.1f} h {direction} than this patient's usual"
    if unit in ("h", "min"):
        return f"{label} {abs(diff):.1f} {unit} {direction} than this patient's usual"
    if median != 0 and np.isfinite(median):
        return f"{label} {abs(diff) / abs(median):.0%} {direction} than this patient's usual"
    return f"{label} {abs(diff):.3g} {direction} than this patient's usual"


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
