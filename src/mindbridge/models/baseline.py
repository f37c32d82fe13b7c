"""Personal baselines: each biomarker against the patient's own trailing median and MAD, CUSUM change
detection on the robust z-scores, and the largest deviations as plain-words `Deviation`s.

Robust z = (value − median) / (1.4826 · MAD) over the `window` days before the day (the day itself is
excluded), needing at least `min_days` of them (Leys et al. 2013). The two-sided tabular CUSUM of Page
(1954) accumulates z − k upwards and −z − k downwards and signals when either sum exceeds h.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..summary import MAX_DEVIATIONS, Deviation
from .features import feature_units
from .robust import KEY_BIOMARKERS, MAD_TO_SD, describe


def rolling_baseline(values: pd.Series, window: int = 28, min_days: int = 7) -> pd.DataFrame:
    """Per day: trailing median, MAD and robust z of `values` (a date-indexed series), the day excluded."""
    past = values.shift(1).rolling(window, min_periods=min_days)
    median = past.median()
    mad = values.shift(1).rolling(window, min_periods=min_days).apply(
        lambda w: np.nanmedian(np.abs(w - np.nanmedian(w))), raw=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (values - median) / (MAD_TO_SD * mad)
    z = z.where(mad > 0)
    return pd.DataFrame({"value": values, "median": median, "mad": mad, "z": z})


def cusum(z: np.ndarray, k: float = 0.5, h: float = 4.0) -> np.ndarray:
    """Two-sided CUSUM alarms (+1 upward, −1 downward, 0 none) per step; sums restart after an alarm; NaN skipped."""
    up = down = 0.0
    alarms = np.zeros(len(z), dtype=int)
    for i, value in enumerate(np.asarray(z, dtype=float)):
        if np.isnan(value):
            continue
        up, down = max(0.0, up + value - k), max(0.0, down - value - k)
        if up > h or down > h:
            alarms[i] = 1 if up > h else -1
            up = down = 0.0
    return alarms


def top_deviations(table: pd.DataFrame, day: pd.Timestamp, features: Sequence[str] = KEY_BIOMARKERS, *,
                   n: int = 3, min_z: float = 2.0, window: int = 28, min_days: int = 7) -> list[Deviation]:
    """The `n` largest |robust z| deviations of `day` from the trailing baseline, as `Deviation`s.

    `table` is one subject's daily feature table indexed by local date; features with |z| below `min_z`,
    with too little history or absent from the table are skipped.
    """
    if day not in table.index:
        raise KeyError(f"day {day.date()} is not in the feature table")
    units = feature_units()
    found = []
    for name in features:
        if name not in table.columns:
            continue
        row = rolling_baseline(table[name].astype(float), window, min_days).loc[day]
        if np.isfinite(row["z"]) and abs(row["z"]) >= min_z:
            found.append((name, row))
    found.sort(key=lambda item: -abs(item[1]["z"]))
    deviations = []
    for name, row in found[: min(n, MAX_DEVIATIONS)]:
        family, unit = units.get(name, ("", "1"))
        history = int(table[name].loc[:day].iloc[:-1].tail(window).notna().sum())
        deviations.append(Deviation(biomarker=name, family=family, unit=unit, value=float(row["value"]),
                                    baseline=float(row["median"]), robust_z=float(row["z"]), days=history,
                                    text=describe(name, unit, float(row["value"]), float(row["median"]))))
    return deviations
