"""Personal baselines: each biomarker against the patient's own trailing median and MAD, CUSUM change
detection on the robust z-scores, and the largest deviations as plain-words `Deviation`s.

Robust z = (value − median) / (1.4826 · MAD) over the `window` days before the day (the day itself is
excluded), needing at least `min_days` of them (Leys et al. 2013). The two-sided tabular CUSUM of Page
(1954) (`robust.Cusum`, shared with the edge) accumulates z − k upwards and −z − k downwards and signals
when either sum exceeds h.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..summary import Deviation
from .features import feature_units
from .robust import CUSUM_H, CUSUM_K, KEY_BIOMARKERS, MAD_TO_SD, TOP, Cusum, Shift, choose_deviations, track_shift


def rolling_baseline(values: pd.Series, window: int = 28, min_days: int = 7) -> pd.DataFrame:
    """Per day: trailing median, MAD and robust z of `values` (a date-indexed series), the day excluded."""
    past = values.shift(1).rolling(window, min_periods=min_days)
    median = past.median()
    mad = past.apply(lambda w: np.nanmedian(np.abs(w - np.nanmedian(w))), raw=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (values - median) / (MAD_TO_SD * mad)
    z = z.where(mad > 0)
    return pd.DataFrame({"value": values, "median": median, "mad": mad, "z": z})


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
                   n: int = TOP, window: int = 28, min_days: int = 7) -> list[Deviation]:
    """The `n` largest deviations of `day` from the trailing baseline, as `Deviation`s (`robust.choose_deviations`).

    `table` is one subject's daily feature table indexed by local date; CUSUM runs over its days up to `day`;
    features with too little history or absent from the table are skipped.
    """
    if day not in table.index:
        raise KeyError(f"day {day.date()} is not in the feature table")
    names = [name for name in features if name in table.columns]
    upto = table.loc[:day]  # the baseline trails: later days change nothing up to `day`
    bases = {name: rolling_baseline(upto[name].astype(float), window, min_days) for name in names}
    rows = [bases[name].loc[day] for name in names]
    history = [int(upto[name].iloc[:-1].tail(window).notna().sum()) for name in names]
    shifts = {name: shift for name in names if (shift := newest_shift(bases[name]["z"])) is not None}
    return choose_deviations(day.date(), names, np.array([r["value"] for r in rows], dtype=float),
                             np.array([r["z"] for r in rows], dtype=float),
                             np.array([r["median"] for r in rows], dtype=float), np.array(history),
                             feature_units(), shifts, n)
