"""Personal baselines over a daily feature table: each biomarker against the patient's own trailing worn days,
CUSUM change detection on the robust z-scores, and the largest deviations as plain-words `Deviation`s.

The definitions are `models.robust`'s (robust z on a MAD floor, clock times on the 24 h dial, days below
`MIN_COVERAGE` of their family's coverage neither compared nor counted), applied to every day of a table, so
the batch side and the device (`edge.baseline`) give the same deviations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..biomarkers.base import coverage_column
from ..summary import Deviation
from .features import feature_units
from .robust import (
    CUSUM_H,
    CUSUM_K,
    KEY_BIOMARKERS,
    TOP,
    WINDOW,
    Cusum,
    Shift,
    choose_deviations,
    compare,
    track_shift,
    worn_only,
)


def worn_values(table: pd.DataFrame, name: str) -> pd.Series:
    """A biomarker's column with NaN on the days its family's coverage is below `MIN_COVERAGE` (when known)."""
    cover = coverage_column(feature_units().get(name, ("", ""))[0])
    values = table[name].astype(float)
    if cover not in table.columns:
        return values
    return pd.Series(worn_only(values.to_numpy(), table[cover].to_numpy()), index=table.index, name=name)


def rolling_baseline(values: pd.Series, window: int = WINDOW) -> pd.DataFrame:
    """Per day: trailing baseline (median, circular for clock times) and robust z of `values` (a date-indexed
    series named for its biomarker, NaN where not worn), the day excluded."""
    x = values.to_numpy(dtype=float)
    rows = [compare([str(values.name)], x[i:i + 1], x[max(0, i - window):i, None]) for i in range(len(x))]
    return pd.DataFrame({"value": x, "median": [r.median[0] for r in rows], "z": [r.z[0] for r in rows],
                         "days": [int(r.days[0]) for r in rows]}, index=values.index)


def cusum(z: np.ndarray, k: float = CUSUM_K, h: float = CUSUM_H) -> np.ndarray:
    """Two-sided CUSUM alarms (+1 upward, −1 downward, 0 none) per step, each z clipped to ±`CUSUM_CLIP`; sums
    restart after an alarm; NaN skipped."""
    state = Cusum()
    return np.array([state.step(value, i, k, h)[0] for i, value in enumerate(np.asarray(z, dtype=float))],
                    dtype=int)


def newest_shift(z: pd.Series) -> Shift | None:
    """The newest CUSUM-signalled shift over a date-indexed series of robust z (None when none)."""
    state, last = Cusum(), None
    for when, value in z.items():
        last = track_shift(state, float(value), pd.Timestamp(when).date(), last)
    return last


def top_deviations(table: pd.DataFrame, day: pd.Timestamp, features: Sequence[str] = KEY_BIOMARKERS, *,
                   n: int = TOP, window: int = WINDOW) -> list[Deviation]:
    """The `n` largest deviations of `day` from the trailing baseline, as `Deviation`s (`robust.choose_deviations`).

    `table` is one subject's daily feature table indexed by local date (with its coverage columns, when it has
    them); CUSUM runs over its days up to `day`; features absent from the table are skipped.
    """
    if day not in table.index:
        raise KeyError(f"day {day.date()} is not in the feature table")
    names = [name for name in features if name in table.columns]
    upto = table.loc[:day]  # the baseline trails: later days change nothing up to `day`
    bases = {name: rolling_baseline(worn_values(upto, name), window) for name in names}
    rows = [bases[name].iloc[-1] for name in names]
    shifts = {name: shift for name in names if (shift := newest_shift(bases[name]["z"])) is not None}
    return choose_deviations(day.date(), names, np.array([r["value"] for r in rows], dtype=float),
                             np.array([r["z"] for r in rows], dtype=float),
                             np.array([r["median"] for r in rows], dtype=float),
                             np.array([int(r["days"]) for r in rows]), feature_units(), shifts, n)
