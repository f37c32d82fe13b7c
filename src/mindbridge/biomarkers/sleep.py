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
Epochs are scored with `sleep_scoring.score_epochs` (Cole-Kripke by default, Webster rescoring);
non-wear (see `epochs`) and missing epochs stay unscored. Sleep bouts of a night separated by less
than `MERGE_GAP_MINUTES` of scored wake form one sleep period; a missing or non-wear epoch ends a
period, so a period lasts exactly its sleep plus WASO and never exceeds the time the device was worn.
The main period holds the most sleep. Nights with less than `MIN_NIGHT_COVERAGE` scored, or with less than
`MIN_CORE_COVERAGE` of their core hours (`CORE_HOURS`, 00:00 to 06:00) scored, are NaN: a main period is only
looked for where the night was recorded, so a partial night never passes an afternoon rest off as the night's
sleep. A covered night with no sleep has zero sleep and NaN times. Everything is numpy on whole label grids;
pandas is imported only by `SleepFamily.daily` to shape the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .epochs import EpochGrid, epoch_grid, main_activity, runs
from .sleep_scoring import COLE_KRIPKE, MISSING, REFERENCE_DEVICES, SADEH, SLEEP, WAKE, WEBSTER, Method, score_epochs

if TYPE_CHECKING:
    import pandas as pd

MERGE_GAP_MINUTES = 60
MIN_NIGHT_COVERAGE = 0.5
CORE_HOURS, MIN_CORE_COVERAGE = (0, 6), 0.9  # local clock hours most adults sleep through, and how much of them
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
    Feature("sleep_total", "min", "Total sleep time: minutes scored sleep inside the night's main sleep period, "
            "a run of worn epochs that non-wear or missing data always ends.", SCORED),
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

    Row k is the night ending at noon of grid day k (row 0 begins the day before the grid); the
    half days outside the grid are missing (-1).
    """
    per_day = labels.shape[1]
    half = np.full(per_day // 2, MISSING, dtype=labels.dtype)
    return np.concatenate([half, labels.ravel(), half]).reshape(-1, per_day)


def main_periods(night_labels: np.ndarray, epoch_minutes: float) -> dict[str, np.ndarray]:
    """Main sleep period of every night row: onset and end epoch, sleep, wake and interruption counts."""
    n_nights, per = night_labels.shape
    out = dict(zip(("onset", "end", "sleep", "wake", "interruptions"), np.full((5, n_nights), np.nan), strict=True))
    width = per + 1  # a missing column after each night keeps periods inside their night
    lab = np.concatenate([night_labels, np.full((n_nights, 1), MISSING, dtype=night_labels.dtype)], axis=1).ravel()
    starts, ends = runs(lab == SLEEP)
    if len(starts) == 0:
        return out
    wake_cum = np.concatenate(([0], (lab == WAKE).cumsum()))
    gap = starts[1:] - ends[:-1]
    joined = (wake_cum[starts[1:]] - wake_cum[ends[:-1]] == gap) & (gap * epoch_minutes < MERGE_GAP_MINUTES)
    new = np.concatenate(([True], ~joined))
    block = new.cumsum() - 1
    amount = np.bincount(block, weights=ends - starts)
    b_start, b_end = starts[new], ends[np.concatenate((~joined, [True]))]
    b_night = b_start // width
    order = np.lexsort((-amount, b_night))
    first = order[np.concatenate(([True], b_night[order][1:] != b_night[order][:-1]))]
    nb = b_night[first]
    out["onset"][nb] = b_start[first] - nb * width
    out["end"][nb] = b_end[first] - nb * width
    out["sleep"][nb] = amount[first]
    out["wake"][nb] = b_end[first] - b_start[first] - amount[first]
    out["interruptions"][nb] = np.bincount(block)[first] - 1
    return out


def sleep_regularity(labels: np.ndarray, window: int = SRI_DAYS) -> np.ndarray:
    """Sleep Regularity Index of the `window` days ending at each day of a `(days, epochs)` label grid.

    Labels are 1 sleep, 0 wake, and negative or NaN where missing.
    """
    scored = labels >= 0
    both = scored[1:] & scored[:-1]
    same = np.concatenate(([0], (both & (labels[1:] == labels[:-1])).sum(axis=1)))
    pairs = np.concatenate(([0], both.sum(axis=1)))
    c_same, c_pairs = np.concatenate(([0], same.cumsum())), np.concatenate(([0], pairs.cumsum()))
    ends = np.arange(1, len(labels) + 1)
    lo = np.maximum(ends - window + 1, 0)  # pairs whose later day is in the window
    s, p = c_same[ends] - c_same[lo], c_pairs[ends] - c_pairs[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p >= labels.shape[1], -100.0 + 200.0 * s / p, np.nan)


_NIGHTLY = ("sleep_onset", "sleep_offset", "sleep_midpoint", "sleep_total", "sleep_waso", "sleep_efficiency",
            "sleep_awakenings")


def sleep_columns(grid: EpochGrid, method: Method = "cole-kripke", scale: float | None = None,
                  skip: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The sleep family's wake-up days (`datetime64[D]`) and feature columns, nights with data only.

    The first `skip` nights get no columns, though every epoch is still scored (the device scale and the sleep
    regularity index read the whole grid): the edge asks for the nights from its window's last day on.
    """
    if not 0 <= skip <= grid.n_days:
        raise ValueError(f"skip must be 0 to the grid's {grid.n_days} day(s), got {skip}")
    scored = score_epochs(grid.filled, grid.worn, grid.epoch_s, method, scale).label.reshape(grid.counts.shape)
    # night k is the second half of day k - 1 and the first half of day k: days from skip - 1 on suffice
    night = nights(scored[skip - 1:])[1:] if skip else nights(scored)
    cover = (night != MISSING).sum(axis=1, dtype=float) / night.shape[1]
    mp = main_periods(night, grid.epoch_minutes)
    h = grid.epoch_s / 3600.0
    per_hour = night.shape[1] // 24  # a night runs noon to noon: local hour h is column block h + 12
    core = night[:, (CORE_HOURS[0] + 12) * per_hour:(CORE_HOURS[1] + 12) * per_hour]
    ok = (cover >= MIN_NIGHT_COVERAGE) & ((core != MISSING).mean(axis=1) >= MIN_CORE_COVERAGE)
    onset, offset = mp["onset"] * h - 12.0, mp["end"] * h - 12.0
    sleep_min = np.where(np.isnan(mp["sleep"]), 0.0, mp["sleep"]) * grid.epoch_minutes
    wake_min = mp["wake"] * grid.epoch_minutes
    with np.errstate(invalid="ignore", divide="ignore"):
        efficiency = sleep_min / (sleep_min + wake_min)
    seen = cover > 0
    # rows in the order of _NIGHTLY, which names them
    nightly = np.array([onset, offset, (onset + offset) / 2, sleep_min, wake_min, efficiency, mp["interruptions"]])
    columns = dict(zip(_NIGHTLY, np.where(ok, nightly, np.nan)[:, seen], strict=True))
    columns["sleep_regularity_index"] = np.concatenate((sleep_regularity(scored), [np.nan]))[skip:][seen]
    columns[coverage_column("sleep")] = cover[seen]
    days = np.concatenate((grid.days, [grid.days[-1] + np.timedelta64(1, "D")]))[skip:]
    return days[seen], columns


class SleepFamily:
    """Sleep from activity counts: scored epochs, the main sleep period per night, sleep regularity."""

    name = "sleep"
    kinds = (Kind.ACTIVITY_COUNTS,)
    features = FEATURES

    def __init__(self, method: Method = "cole-kripke") -> None:
        self.method: Method = method

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Nightly sleep features, labelled by wake-up day, from the subject's main counts series."""
        from .daygroups import day_frame

        main = main_activity(series)
        days, columns = sleep_columns(epoch_grid(main), self.method,
                                      1.0 if main.source in REFERENCE_DEVICES else None)
        return day_frame(self, days, columns)
