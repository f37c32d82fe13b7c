"""Daily activity level and fragmentation from activity counts or steps, at any epoch length.

| name | unit | definition |
|---|---|---|
| activity_total | {counts} | Sum of the day's counts over worn epochs. |
| activity_mean | {counts}/min | Mean count per minute over the day's worn epochs. |
| activity_sd | {counts}/min | Sample standard deviation of the per-minute count over worn epochs. |
| activity_zero_fraction | 1 | Fraction of worn epochs with a count of zero. |
| activity_nonwear | min | Minutes flagged as non-wear (runs of zeros of 120 min or more). |
| activity_kra | /min | Probability per minute of passing from rest to activity. |
| activity_kar | /min | Probability per minute of passing from activity to rest. |

Rest is an epoch with a zero count, activity one above zero; transitions are counted only between
consecutive worn epochs and belong to the day of the earlier epoch. Counts are summed as recorded (no
rescaling); coverage tells how much of the day they cover. Steps use the same columns in steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .epochs import EpochGrid, epoch_grid, main_activity

GARCIA_CEJA = ("Garcia-Ceja E, Riegler M, Jakobsen P, Torresen J, Nordgreen T, Oedegaard KJ, Fasmer OB (2018). "
               "Depresjon: a motor activity database of depression episodes in unipolar and bipolar patients. "
               "Proceedings of the 9th ACM Multimedia Systems Conference (MMSys), 472-477.")
LIM = ("Lim ASP, Yu L, Costa MD, Buchman AS, Bennett DA, Leurgans SE, Saper CB (2011). Quantification of the "
       "fragmentation of rest-activity patterns in elderly individuals using a state transition analysis. "
       "Sleep 34(11):1569-1581.")
CHOI = ("Choi L, Liu Z, Matthews CE, Buchowski MS (2011). Validation of accelerometer wear and nonwear time "
        "classification algorithm. Medicine & Science in Sports & Exercise 43(2):357-364.")

FEATURES = (
    Feature("activity_total", "{counts}", "Sum of the day's activity counts (or steps) over its worn epochs.",
            GARCIA_CEJA),
    Feature("activity_mean", "{counts}/min", "Mean activity count per minute over the day's worn epochs.",
            GARCIA_CEJA),
    Feature("activity_sd", "{counts}/min", "Sample standard deviation of the per-minute activity count over "
            "the day's worn epochs.", GARCIA_CEJA),
    Feature("activity_zero_fraction", "1", "Fraction of the day's worn epochs whose activity count is zero.",
            GARCIA_CEJA),
    Feature("activity_nonwear", "min", "Minutes of the day inside runs of exact zeros lasting 120 minutes or "
            "more, treated as non-wear and excluded from every feature.", CHOI),
    Feature("activity_kra", "/min", "Probability per minute of a transition from rest (zero count) to activity, "
            "from transitions between consecutive worn epochs.", LIM),
    Feature("activity_kar", "/min", "Probability per minute of a transition from activity to rest (zero count), "
            "from transitions between consecutive worn epochs.", LIM),
)


def transition_rates(grid: EpochGrid) -> tuple[np.ndarray, np.ndarray]:
    """Per-day rest→activity and activity→rest transition probabilities per minute."""
    x = grid.masked().ravel()
    rest, active = x == 0, x > 0
    both = ~np.isnan(x[:-1]) & ~np.isnan(x[1:])
    ra = np.r_[rest[:-1] & active[1:] & both, False].reshape(grid.counts.shape).sum(axis=1)
    ar = np.r_[active[:-1] & rest[1:] & both, False].reshape(grid.counts.shape).sum(axis=1)
    from_rest = np.r_[rest[:-1] & both, False].reshape(grid.counts.shape).sum(axis=1)
    from_active = np.r_[active[:-1] & both, False].reshape(grid.counts.shape).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ra / from_rest / grid.epoch_minutes, ar / from_active / grid.epoch_minutes


def activity_table(grid: EpochGrid) -> pd.DataFrame:
    """The activity family's daily table from one epoch grid."""
    x = grid.masked()
    n = grid.worn.sum(axis=1)
    any_worn = n > 0
    per_min = x / grid.epoch_minutes
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(any_worn[:, None], per_min, 0.0), axis=1)
        sd = np.sqrt(np.nansum((per_min - mean[:, None]) ** 2, axis=1) / (n - 1))
        zero = np.sum(x == 0, axis=1) / n
    nonwear = (~grid.worn & ~np.isnan(grid.counts)).sum(axis=1) * grid.epoch_minutes
    kra, kar = transition_rates(grid)
    data = {
        "activity_total": np.where(any_worn, np.nansum(x, axis=1), np.nan),
        "activity_mean": np.where(any_worn, mean, np.nan),
        "activity_sd": np.where(n > 1, sd, np.nan),
        "activity_zero_fraction": np.where(any_worn, zero, np.nan),
        "activity_nonwear": nonwear.astype(float),
        "activity_kra": kra, "activity_kar": kar,
        coverage_column("activity"): grid.coverage(),
    }
    return pd.DataFrame(data, index=grid.days)


class ActivityFamily:
    """Activity level (total, mean, sd, zero fraction), non-wear and rest/activity fragmentation per day."""

    name = "activity"
    kinds = (Kind.ACTIVITY_COUNTS, Kind.STEPS)
    features = FEATURES

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily activity features from the subject's main activity series."""
        return activity_table(epoch_grid(main_activity(series)))
