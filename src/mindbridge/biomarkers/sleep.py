"""Nightly sleep from actigraphy: the main sleep period of each noon-to-noon night and sleep regularity.

| name | unit | definition |
|---|---|---|
| sleep_onset | h | Start of the main sleep period, hours from local midnight (negative before midnight). |
| sleep_offset | h | End of the main sleep period, hours from local midnight. |
| sleep_midpoint | h | Midpoint between onset and offset. |
| sleep_total | min | Minutes scored sleep inside the main sleep period. |
| sleep_waso | min | Minutes scored wake inside the main sleep period. |
| sleep_efficiency | 1 | Sleep minutes over sleep plus wake minutes inside the main sleep period. |
| sleep_awakenings | {count} | Interruptions of sleep inside the main sleep period. |
| sleep_regularity_index | 1 | Sleep Regularity Index over the 7 days ending that day, from -100 to 100. |

A night is the 24 h from noon of the previous day to noon of the labelled day (the wake-up day).
Epochs are scored with `sleep_scoring.score` (Cole-Kripke by default, Webster rescoring); non-wear and
missing epochs stay unscored. Sleep bouts of a night separated by less than `MERGE_GAP_MINUTES` of wake
or missing data form one sleep period; the main one holds the most sleep. Nights with less than
`MIN_NIGHT_COVERAGE` scored are NaN; a covered night with no sleep has zero sleep and NaN times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .epochs import EpochGrid, epoch_grid, main_activity
from .sleep_scoring import COLE_KRIPKE, REFERENCE_DEVICES, SADEH, WEBSTER, Method, score

MERGE_GAP_MINUTES = 60
MIN_NIGHT_COVERAGE = 0.5
SRI_DAYS = 7
PHILLIPS = ("Phillips AJK, Clerx WM, O'Brien CS, Sano A, Barger LK, Picard RW, Lockley SW, Klerman EB, "
            "Czeisler CA (2017). Irregular sleep/wake patterns are associated with poorer academic performance "
            "and delayed circadian and sleep/wake timing. Scientific Reports 7:3216.")
SCORED = f"{COLE_KRIPKE} {SADEH} {WEBSTER}"

FEATURES = (
    Feature("sleep_onset", "h", "Start of the night's main sleep period in hours from local midnight of the "
            "wake-up day, negative before midnight.", SCORED),
    Feature("sleep_offset", "h", "End of the night's main sleep period in hours from local midnight of the "
            "wake-up day.", SCORED),
    Feature("sleep_midpoint", "h", "Midpoint of the night's main sleep period in hours from local midnight of "
            "the wake-up day.", SCORED),
    Feature("sleep_total", "min", "Total sleep time: minutes scored sleep inside the night's main sleep period.",
            SCORED),
    Feature("sleep_waso", "min", "Wake after sleep onset: minutes scored wake inside the night's main sleep "
            "period.", SCORED),
    Feature("sleep_efficiency", "1", "Sleep minutes divided by sleep plus wake minutes inside the night's main "
            "sleep period.", SCORED),
    Feature("sleep_awakenings", "{count}", "Number of interruptions of sleep inside the night's main sleep "
            "period.", SCORED),
    Feature("sleep_regularity_index", "1", "Sleep Regularity Index over the 7 days ending that day: 200 times "
            "the probability that two epochs 24 hours apart share the same sleep/wake state, minus 100.",
            PHILLIPS),
)


def nights(labels: np.ndarray) -> np.ndarray:
    """Re-cut a `(days, epochs per day)` label grid into `(days + 1, epochs)` noon-to-noon nights.

    Row k is the night ending at noon of grid day k (row 0 begins the day before the grid).
    """
    per_day = labels.shape[1]
    half = np.full(per_day // 2, np.nan)
    return np.r_[half, labels.ravel(), half].reshape(-1, per_day)


def main_periods(night_labels: np.ndarray, epoch_minutes: float) -> dict[str, np.ndarray]:
    """Main sleep period of every night row: onset and end epoch, sleep, wake and interruption counts."""
    n_nights, per = night_labels.shape
    out = {k: np.full(n_nights, np.nan) for k in ("onset", "end", "sleep", "wake", "interruptions")}
    width = per + 1  # a never-sleep column after each night keeps bouts inside their night
    sleep = np.c_[night_labels == 1, np.zeros(n_nights, dtype=bool)].ravel()
    wake = np.c_[night_labels == 0, np.zeros(n_nights, dtype=bool)].ravel()
    edges = np.diff(np.r_[0, sleep.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        return out
    night = starts // width
    gap = np.r_[np.inf, (starts[1:] - ends[:-1]) * epoch_minutes]
    new = (gap >= MERGE_GAP_MINUTES) | np.r_[True, night[1:] != night[:-1]]
    block = np.cumsum(new) - 1
    amount = np.bincount(block, weights=ends - starts)
    b_night, b_start = night[new], starts[new]
    b_end = np.zeros(len(b_start), dtype=np.int64)
    np.maximum.at(b_end, block, ends)
    b_runs = np.bincount(block)
    order = np.lexsort((-amount, b_night))
    first = order[np.r_[True, b_night[order][1:] != b_night[order][:-1]]]
    wake_cum = np.r_[0, np.cumsum(wake)]
    nb = b_night[first]
    out["onset"][nb] = b_start[first] - nb * width
    out["end"][nb] = b_end[first] - nb * width
    out["sleep"][nb] = amount[first]
    out["wake"][nb] = wake_cum[b_end[first]] - wake_cum[b_start[first]]
    out["interruptions"][nb] = b_runs[first] - 1
    return out


def sleep_regularity(labels: np.ndarray, window: int = SRI_DAYS) -> np.ndarray:
    """Sleep Regularity Index of the `window` days ending at each day of a `(days, epochs)` label grid."""
    both = ~np.isnan(labels[1:]) & ~np.isnan(labels[:-1])
    same = np.r_[0.0, np.sum(both & (labels[1:] == labels[:-1]), axis=1)]
    pairs = np.r_[0.0, np.sum(both, axis=1)]
    c_same, c_pairs = np.r_[0.0, np.cumsum(same)], np.r_[0.0, np.cumsum(pairs)]
    ends = np.arange(1, len(labels) + 1)
    lo = np.maximum(ends - window + 1, 0)  # pairs whose later day is in the window
    s, p = c_same[ends] - c_same[lo], c_pairs[ends] - c_pairs[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p >= labels.shape[1], -100.0 + 200.0 * s / p, np.nan)


def sleep_table(grid: EpochGrid, method: Method = "cole-kripke", scale: float | None = None) -> pd.DataFrame:
    """The sleep family's daily table (one row per wake-up day) from one epoch grid."""
    scored = score(grid.masked().ravel(), grid.epoch_s, method, scale).sleep.reshape(grid.counts.shape)
    night = nights(scored)
    cover = np.mean(~np.isnan(night), axis=1)
    mp = main_periods(night, grid.epoch_minutes)
    h = grid.epoch_s / 3600.0
    ok = cover >= MIN_NIGHT_COVERAGE
    onset, offset = mp["onset"] * h - 12.0, mp["end"] * h - 12.0
    sleep_min = np.where(np.isnan(mp["sleep"]), 0.0, mp["sleep"]) * grid.epoch_minutes
    wake_min = mp["wake"] * grid.epoch_minutes
    with np.errstate(invalid="ignore", divide="ignore"):
        efficiency = sleep_min / (sleep_min + wake_min)
    sri = np.r_[sleep_regularity(scored), np.nan]
    days = grid.days.append(grid.days[-1:] + pd.Timedelta(days=1)).rename("date")
    data = {
        "sleep_onset": onset, "sleep_offset": offset, "sleep_midpoint": (onset + offset) / 2,
        "sleep_total": sleep_min, "sleep_waso": wake_min, "sleep_efficiency": efficiency,
        "sleep_awakenings": mp["interruptions"], "sleep_regularity_index": sri,
    }
    table = pd.DataFrame({k: np.where(ok, v, np.nan) for k, v in data.items()}, index=days)
    table["sleep_regularity_index"] = sri
    table[coverage_column("sleep")] = cover
    return table[cover > 0]


class SleepFamily:
    """Sleep from activity counts: scored epochs, the main sleep period per night, sleep regularity."""

    name = "sleep"
    kinds = (Kind.ACTIVITY_COUNTS,)
    features = FEATURES

    def __init__(self, method: Method = "cole-kripke") -> None:
        self.method: Method = method

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Nightly sleep features, labelled by wake-up day, from the subject's main counts series."""
        main = main_activity(series)
        grid = epoch_grid(main)
        return sleep_table(grid, self.method, 1.0 if main.source in REFERENCE_DEVICES else None)
