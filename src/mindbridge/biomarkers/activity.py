"""Daily activity level and fragmentation from activity counts or steps, at any epoch length.

| name | unit | definition |
|---|---|---|
| activity_total | {counts} | Sum of the day's counts over worn epochs. |
| activity_mean | {counts}/min | Mean count per minute over the day's worn epochs. |
| activity_sd | {counts}/min | Sample standard deviation of the per-minute count over worn epochs. |
| activity_zero_fraction | 1 | Fraction of worn epochs with a count of zero. |
| activity_nonwear | min | Minutes flagged as non-wear (still 120-min windows: exact zeros or a low constant floor). |
| activity_kra | /min | Probability per minute of passing from rest to activity. |
| activity_kar | /min | Probability per minute of passing from activity to rest. |

Rest is an epoch with a zero count, activity one above zero; transitions are counted only between
consecutive worn epochs and belong to the day of the earlier epoch. Counts are summed as recorded (no
rescaling); coverage tells how much of the day they cover. Steps use the same columns in steps.
Non-wear follows the rule in `epochs` (a still window: mean at most 2 % and standard deviation at most
0.2 % of the recording's 95th percentile of non-zero counts for 120 min). Only numpy runs here;
pandas is imported by `ActivityFamily.daily` alone, to shape the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .epochs import NONWEAR_MINUTES, SPIKE_MINUTES, STILL_MEAN, STILL_SD, EpochGrid, epoch_grid, main_activity

if TYPE_CHECKING:
    import pandas as pd

GARCIA_CEJA = ("Garcia-Ceja E, Riegler M, Jakobsen P, Torresen J, Nordgreen T, Oedegaard KJ, Fasmer OB (2018). "
               "Depresjon: a motor activity database of depression episodes in unipolar and bipolar patients. "
               "Proceedings of the 9th ACM Multimedia Systems Conference (MMSys), 472-477.")
LIM = ("Lim ASP, Yu L, Costa MD, Buchman AS, Bennett DA, Leurgans SE, Saper CB (2011). Quantification of the "
       "fragmentation of rest-activity patterns in elderly individuals using a state transition analysis. "
       "Sleep 34(11):1569-1581.")
CHOI = ("Choi L, Liu Z, Matthews CE, Buchowski MS (2011). Validation of accelerometer wear and nonwear time "
        "classification algorithm. Medicine & Science in Sports & Exercise 43(2):357-364.")
VAN_HEES = ("van Hees VT, Gorzelniak L, Dean Leon EC, Eder M, Pias M, Taherian S, Ekelund U, Renstrom F, Franks PW, "
            "Horsch A, Brage S (2013). Separating movement and gravity components in an acceleration signal and "
            "implications for the assessment of human daily physical activity. PLoS ONE 8(4):e61691.")

FEATURES = (
    Feature("activity_total", "{counts}", "Sum of the day's activity counts (or steps) over its worn epochs.",
            GARCIA_CEJA),
    Feature("activity_mean", "{counts}/min", "Mean activity count per minute over the day's worn epochs.",
            GARCIA_CEJA),
    Feature("activity_sd", "{counts}/min", "Sample standard deviation of the per-minute activity count over "
            "the day's worn epochs.", GARCIA_CEJA),
    Feature("activity_zero_fraction", "1", "Fraction of the day's worn epochs whose activity count is zero.",
            GARCIA_CEJA),
    Feature("activity_nonwear", "min", f"Minutes of the day treated as non-wear and excluded from every feature: "
            f"inside a {NONWEAR_MINUTES}-minute window whose counts have a mean of at most {STILL_MEAN:.0%} and a "
            f"standard deviation of at most {STILL_SD:.1%} of the 95th percentile of the non-zero counts read "
            "(the whole recording in a batch table; the day and the 6 before it on a device and in the "
            f"model's training table), exact zeros always qualifying, or in a knock of at most {SPIKE_MINUTES} "
            "minutes between two such stretches.", f"{CHOI} {VAN_HEES}"),
    Feature("activity_kra", "/min", "Probability per minute of a transition from rest (zero count) to activity, "
            "from transitions between consecutive worn epochs.", LIM),
    Feature("activity_kar", "/min", "Probability per minute of a transition from activity to rest (zero count), "
            "from transitions between consecutive worn epochs.", LIM),
)


def transition_rates(grid: EpochGrid) -> tuple[np.ndarray, np.ndarray]:
    """Per-day rest→activity and activity→rest transition probabilities per minute."""
    x, worn = grid.filled.ravel(), grid.worn.ravel()
    rest, active = worn & (x == 0), x > 0
    both = np.concatenate((worn[:-1] & worn[1:], [False]))
    shape = grid.counts.shape

    def per_day(a: np.ndarray) -> np.ndarray:
        return np.asarray(a.reshape(shape).sum(axis=1), dtype=float)

    from_rest, from_active = rest & both, active & both
    ra = per_day(from_rest & np.concatenate((active[1:], [False])))
    ar = per_day(from_active & np.concatenate((rest[1:], [False])))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra / per_day(from_rest) / grid.epoch_minutes, ar / per_day(from_active) / grid.epoch_minutes)


def activity_columns(grid: EpochGrid) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The activity family's local days (`datetime64[D]`) and daily feature columns from one epoch grid."""
    x, worn = grid.filled, grid.worn
    n = worn.sum(axis=1)
    total = x.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        sd = np.sqrt((np.where(worn, x - mean[:, None], 0.0) ** 2).sum(axis=1) / (n - 1)) / grid.epoch_minutes
        zero = (worn & (x == 0)).sum(axis=1) / n
    kra, kar = transition_rates(grid)
    any_worn = n > 0
    return grid.days, {
        "activity_total": np.where(any_worn, total, np.nan),
        "activity_mean": mean / grid.epoch_minutes,
        "activity_sd": np.where(n > 1, sd, np.nan),
        "activity_zero_fraction": zero,
        "activity_nonwear": (~worn & ~np.isnan(grid.counts)).sum(axis=1) * grid.epoch_minutes,
        "activity_kra": kra, "activity_kar": kar,
        coverage_column("activity"): grid.coverage(),
    }


class ActivityFamily:
    """Activity level (total, mean, sd, zero fraction), non-wear and rest/activity fragmentation per day."""

    name = "activity"
    kinds = (Kind.ACTIVITY_COUNTS, Kind.STEPS)
    features = FEATURES

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily activity features from the subject's main activity series."""
        from .daygroups import day_frame

        return day_frame(self, *activity_columns(epoch_grid(main_activity(series))))
