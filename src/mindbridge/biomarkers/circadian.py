"""Circadian rest-activity rhythm from activity counts or steps: nonparametric measures and a 24 h cosinor.

| name | unit | definition |
|---|---|---|
| m10 | {counts}/min | Mean activity of the day's most active 10 h (windows wrap around midnight). |
| m10_onset | h | Local clock time at which the day's most active 10 h start. |
| l5 | {counts}/min | Mean activity of the day's least active 5 h (windows wrap around midnight). |
| l5_onset | h | Local clock time at which the day's least active 5 h start. |
| relative_amplitude | 1 | (M10 - L5) / (M10 + L5) of the day. |
| interdaily_stability_7d | 1 | Interdaily stability of hourly counts over the 7 days ending that day. |
| intradaily_variability_7d | 1 | Intradaily variability of hourly counts over the 7 days ending that day. |
| interdaily_stability | 1 | Interdaily stability of hourly counts over the whole recording. |
| intradaily_variability | 1 | Intradaily variability of hourly counts over the whole recording. |
| m10_recording, l5_recording | {counts}/min | M10 and L5 of the recording's average day. |
| relative_amplitude_recording | 1 | Relative amplitude of the recording's average day. |
| cosinor_mesor, cosinor_amplitude | {counts}/min | Mesor and amplitude of a 24 h cosine fitted to the day. |
| cosinor_acrophase | h | Local clock time of the fitted cosine's peak. |
| cosinor_r2 | 1 | Fraction of the day's variance the 24 h cosine explains. |

Rules: non-wear and missing epochs are NaN and never enter a statistic. An hour is used by IS and IV
only when all its epochs are present and worn (hourly sums of partial hours would be biased). IS and IV
need 72 valid hours in their window, daily measures need `MIN_DAY_COVERAGE` of the day worn. With
`ddof=0` IS and IV follow Witting et al. (1990) exactly; `ddof=1` gives the sample-variance variant that
pandas-based tools compute, off by (24/23)(n-1)/n for IS and (n-1)/n for IV. Everything is numpy on
whole `(days, epochs)` grids; pandas is imported only by `CircadianFamily.daily` to shape the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .epochs import EpochGrid, epoch_grid, main_activity

if TYPE_CHECKING:
    import pandas as pd

MIN_DAY_COVERAGE = 0.75
MIN_WINDOW_HOURS = 72
WINDOW_DAYS = 7

WITTING = ("Witting W, Kwa IH, Eikelenboom P, Mirmiran M, Swaab DF (1990). Alterations in the circadian "
           "rest-activity rhythm in aging and Alzheimer's disease. Biological Psychiatry 27(6):563-572.")
VAN_SOMEREN = ("Van Someren EJW, Swaab DF, Colenda CC, Cohen W, McCall WV, Rosenquist PB (1999). Bright light "
               "therapy: improved sensitivity to its effects on rest-activity rhythms in Alzheimer patients by "
               "application of nonparametric methods. Chronobiology International 16(4):505-518.")
HALBERG = ("Cornelissen G (2014). Cosinor-based rhythmometry. Theoretical Biology and Medical Modelling 11:16; "
           "after Halberg F, Tong YL, Johnson EA (1967), Circadian system phase, Springer.")

FEATURES = (
    Feature("m10", "{counts}/min", "Mean activity per minute in the day's most active 10 consecutive hours, "
            "windows wrapping around midnight.", VAN_SOMEREN),
    Feature("m10_onset", "h", "Local clock time (hours after midnight) at which the day's most active 10 hours "
            "start.", VAN_SOMEREN),
    Feature("l5", "{counts}/min", "Mean activity per minute in the day's least active 5 consecutive hours, "
            "windows wrapping around midnight.", VAN_SOMEREN),
    Feature("l5_onset", "h", "Local clock time (hours after midnight) at which the day's least active 5 hours "
            "start.", VAN_SOMEREN),
    Feature("relative_amplitude", "1", "Relative amplitude (M10 - L5) / (M10 + L5) of the day.", VAN_SOMEREN),
    Feature("interdaily_stability_7d", "1", "Interdaily stability (variance of the average 24-hour profile over "
            "the variance of all hourly counts) over the 7 days ending that day.", WITTING),
    Feature("intradaily_variability_7d", "1", "Intradaily variability (mean squared hour-to-hour change over the "
            "variance of hourly counts) over the 7 days ending that day.", WITTING),
    Feature("interdaily_stability", "1", "Interdaily stability of hourly counts over the whole recording.",
            WITTING),
    Feature("intradaily_variability", "1", "Intradaily variability of hourly counts over the whole recording.",
            WITTING),
    Feature("m10_recording", "{counts}/min", "M10 of the recording's average day (mean activity per minute in "
            "its most active 10 hours).", VAN_SOMEREN),
    Feature("l5_recording", "{counts}/min", "L5 of the recording's average day (mean activity per minute in "
            "its least active 5 hours).", VAN_SOMEREN),
    Feature("relative_amplitude_recording", "1", "Relative amplitude (M10 - L5) / (M10 + L5) of the recording's "
            "average day.", VAN_SOMEREN),
    Feature("cosinor_mesor", "{counts}/min", "Mesor (rhythm-adjusted mean) of a 24-hour cosine fitted by least "
            "squares to the day's activity per minute.", HALBERG),
    Feature("cosinor_amplitude", "{counts}/min", "Amplitude (peak minus mesor) of the day's fitted 24-hour "
            "cosine.", HALBERG),
    Feature("cosinor_acrophase", "h", "Local clock time (hours after midnight) of the peak of the day's fitted "
            "24-hour cosine; NaN on a day without rhythm (constant counts, amplitude nil).", HALBERG),
    Feature("cosinor_r2", "1", "Fraction of the day's activity variance explained by the fitted 24-hour "
            "cosine.", HALBERG),
)


def hourly_counts(grid: EpochGrid) -> np.ndarray:
    """Sum a grid's worn counts into `(days, 24)` hourly counts; an hour with a missing or non-wear epoch is NaN.

    Epochs that do not divide an hour leave every hour NaN: IS and IV are then undefined.
    """
    if 3600 % grid.epoch_s:
        return np.full((grid.n_days, 24), np.nan)
    return np.asarray(grid.masked.reshape(grid.n_days, 24, -1).sum(axis=2))


def average_day(grid: EpochGrid) -> np.ndarray:
    """The recording's average day: mean count per minute at each epoch of the day over worn epochs."""
    worn = np.add.reduce(grid.worn, axis=0, dtype=np.int32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(grid.filled.sum(axis=0) / (worn * grid.epoch_minutes))


def _hour_terms(hours: np.ndarray, firsts: np.ndarray) -> np.ndarray:
    """Per day and clock hour: value, valid, value², squared step from the hour before and whether it counts.

    `hours` is `(days, 24)` with NaN for invalid hours; no step is taken into the first hour of a day
    listed in `firsts` (the first day of each recording stacked in `hours`). Returns `(days, 5, 24)`.
    """
    days = len(hours)
    valid = ~np.isnan(hours)
    x = np.where(valid, hours, 0.0)
    step_ok = np.zeros((days, 24), dtype=bool)
    step_ok.ravel()[1:] = valid.ravel()[1:] & valid.ravel()[:-1]
    step_ok[firsts, 0] = False
    steps = np.zeros(days * 24)
    flat = x.ravel()
    steps[1:] = flat[1:] - flat[:-1]
    return np.stack([x, valid, x * x, (steps * steps).reshape(days, 24) * step_ok, step_ok], axis=1)


def _stability_from_sums(sums: np.ndarray, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    """IS and IV of each window from its `(windows, 5, 24)` sums of `_hour_terms`."""
    total, n, squares, step_sum, step_count = sums.sum(axis=2).T
    s_h, c_h = sums[:, 0], sums[:, 1]
    has = c_h > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(has, s_h / c_h, 0.0)
        k = has.sum(axis=1)
        dev = np.where(has, profile - (profile.sum(axis=1) / k)[:, None], 0.0)
        d1 = (squares - total * total / n) / (n - ddof)
        stab = (dev * dev).sum(axis=1) / (k - ddof) / d1
        iv = step_sum / step_count / d1
    enough = n >= MIN_WINDOW_HOURS
    return np.where(enough, stab, np.nan), np.where(enough, iv, np.nan)


def stability_variability(hours: np.ndarray, window: int, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interdaily stability and intradaily variability over the `window` days ending at each day.

    `hours` is `(days, 24)` with NaN for invalid hours. Returns two arrays of one value per day, NaN
    where the window holds fewer than `MIN_WINDOW_HOURS` valid hours. One cumulative sum over the days
    carries every windowed sum; the step into a window's first hour comes from outside it and is left out.
    """
    terms = _hour_terms(hours, np.zeros(1, dtype=np.int64))
    cumulative = np.concatenate([np.zeros((1, 5, 24)), terms.cumsum(axis=0)])
    ends = np.arange(1, len(hours) + 1)
    first = np.maximum(ends - window, 0)
    sums = cumulative[ends] - cumulative[first]
    sums[:, 3:, 0] -= terms[first, 3:, 0]
    return _stability_from_sums(sums, ddof)


def lmx(profiles: np.ndarray, windows: Sequence[tuple[int, bool]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per `(epochs, lowest)` window: the mean and start index of the least (`lowest`) or most active `epochs`-long
    cyclic window of each profile row, all windows from one running sum (M10 and L5 share it).

    NaN values are left out of a window's mean; a row with no valid value gives NaN and index -1.
    """
    p = np.asarray(profiles, dtype=float)
    p = p.reshape(1, -1) if p.ndim < 2 else p
    rows, n = p.shape
    longest = max(epochs for epochs, _ in windows)
    valid = ~np.isnan(p)
    complete = bool(valid.all())
    run = np.zeros((1 if complete else 2, rows, n + longest))  # a leading 0, the row, its first epochs-1 again
    run[0, :, 1:n + 1] = p if complete else np.where(valid, p, 0.0)
    if not complete:
        run[1, :, 1:n + 1] = valid
    run[:, :, n + 1:] = run[:, :, 1:longest]
    run.cumsum(axis=2, out=run)
    rows_at = np.arange(rows)
    out = []
    for epochs, lowest in windows:
        sums = run[:, :, epochs:epochs + n] - run[:, :, :n]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums[0] / (epochs if complete else sums[1])
        ranked = means if complete else np.where(sums[1] > 0, means, np.inf if lowest else -np.inf)
        idx = np.argmin(ranked, axis=1) if lowest else np.argmax(ranked, axis=1)
        empty = np.zeros(rows, dtype=bool) if complete else sums[1][rows_at, idx] == 0
        out.append((np.where(empty, np.nan, means[rows_at, idx]), np.where(empty, -1, idx)))
    return out


def m10_l5(profiles: np.ndarray, epoch_s: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`lmx` of the most active 10 h and the least active 5 h of each profile row: [(M10, onset), (L5, onset)]."""
    return lmx(profiles, ((window_epochs(10, epoch_s), False), (window_epochs(5, epoch_s), True)))


def relative_amplitude(m10: np.ndarray, l5: np.ndarray) -> np.ndarray:
    """(M10 - L5) / (M10 + L5), NaN when both are zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((m10 - l5) / (m10 + l5))


def recording_rhythm(grids: Sequence[EpochGrid], ddof: int = 0) -> dict[str, np.ndarray]:
    """IS, IV, M10, L5 and RA of each whole recording: one value per grid, all grids in one vectorised pass.

    The grids must share one epoch length. M10, L5 and RA are those of the recording's average day.
    """
    epochs = {g.epoch_s for g in grids}
    if len(epochs) != 1:
        raise ValueError(f"recording_rhythm needs grids of one epoch length, got {sorted(epochs)} s")
    epoch_s = epochs.pop()
    sizes = np.array([g.n_days for g in grids])
    firsts = np.cumsum(sizes) - sizes
    terms = _hour_terms(np.concatenate([hourly_counts(g) for g in grids]), firsts)
    stab, var = _stability_from_sums(np.add.reduceat(terms, firsts, axis=0), ddof)
    average = np.stack([average_day(g) for g in grids])
    (m10, _), (l5, _) = m10_l5(average, epoch_s)
    return {"interdaily_stability": stab, "intradaily_variability": var, "m10_recording": m10,
            "l5_recording": l5, "relative_amplitude_recording": relative_amplitude(m10, l5)}


_NORMAL_EQUATIONS = np.array([[0, 1, 2], [1, 3, 4], [2, 4, 5]])  # X'X of (1, cos, sin) from the six products


@lru_cache(maxsize=8)
def _cosine_basis(epochs: int, epoch_s: int) -> np.ndarray:
    """`(epochs, 6)` columns 1, cos, sin, cos², cos·sin, sin² of the 24 h cycle at each epoch of a day."""
    w = 2 * np.pi * (np.arange(epochs) * epoch_s / 3600.0) / 24.0
    c, s = np.cos(w), np.sin(w)
    basis = np.stack([np.ones_like(c), c, s, c * c, c * s, s * s], axis=1)
    basis.flags.writeable = False
    return basis


def cosinor(per_minute: np.ndarray, epoch_s: int) -> dict[str, np.ndarray]:
    """Least-squares 24 h cosine per row of a `(days, epochs per day)` grid: mesor, amplitude, acrophase, R²."""
    y = np.asarray(per_minute, dtype=float)
    valid = ~np.isnan(y)
    products = _cosine_basis(y.shape[1], epoch_s)
    y0 = np.where(valid, y, 0.0)
    sums = valid.astype(float) @ products
    a = sums[:, _NORMAL_EQUATIONS]
    rhs = y0 @ products[:, :3]
    solvable = np.abs(np.linalg.det(a)) > 1e-9 * np.maximum(sums[:, 0], 1.0) ** 3
    beta = np.full((len(y), 3), np.nan)
    if solvable.any():
        beta[solvable] = np.linalg.solve(a[solvable], rhs[solvable][..., None])[..., 0]
    yy = (y0 ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sst = yy - rhs[:, 0] ** 2 / sums[:, 0]
        sse = yy - (beta * rhs).sum(axis=1)
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
    amplitude = np.hypot(beta[:, 1], beta[:, 2])
    flat = amplitude <= 1e-9 * np.maximum(np.abs(beta[:, 0]), 1.0)  # no rhythm: the phase would be rounding noise
    return {"mesor": beta[:, 0], "amplitude": amplitude,
            "acrophase": np.where(flat, np.nan, np.mod(np.arctan2(beta[:, 2], beta[:, 1]) * 24.0 / (2 * np.pi),
                                                24.0)),
            "r2": np.where(solvable, r2, np.nan)}


def window_epochs(hours: float, epoch_s: int) -> int:
    """Epochs in a window of `hours` (at least one)."""
    return max(1, round(hours * 3600 / epoch_s))


_DAY_MEASURES = ("m10", "m10_onset", "l5", "l5_onset", "relative_amplitude", "cosinor_mesor", "cosinor_amplitude",
                 "cosinor_acrophase", "cosinor_r2")


def day_columns(grid: EpochGrid) -> dict[str, np.ndarray]:
    """The circadian measures each local day gives alone: M10, L5, RA, their onsets, the cosinor, coverage."""
    per_min = grid.masked / grid.epoch_minutes
    cover = grid.coverage()
    day_ok = cover >= MIN_DAY_COVERAGE
    (m10, m10_at), (l5, l5_at) = m10_l5(per_min, grid.epoch_s)
    cos = cosinor(per_min, grid.epoch_s)
    h_per_epoch = grid.epoch_s / 3600.0
    # rows in the order of _DAY_MEASURES, which names them
    stacked = np.array([m10, m10_at * h_per_epoch, l5, l5_at * h_per_epoch, relative_amplitude(m10, l5),
                        cos["mesor"], cos["amplitude"], cos["acrophase"], cos["r2"]])
    columns = dict(zip(_DAY_MEASURES, np.where(day_ok, stacked, np.nan), strict=True))
    columns[coverage_column("circadian")] = cover
    return columns


def circadian_columns(grid: EpochGrid) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The circadian family's local days (`datetime64[D]`) and daily feature columns from one epoch grid."""
    columns = day_columns(grid)
    is7, iv7 = stability_variability(hourly_counts(grid), WINDOW_DAYS)
    columns.update(interdaily_stability_7d=is7, intradaily_variability_7d=iv7)
    columns.update({k: np.full(grid.n_days, v[0]) for k, v in recording_rhythm([grid]).items()})
    return grid.days, columns


class CircadianFamily:
    """Rest-activity rhythm: M10, L5, RA, IS, IV and a 24 h cosinor per local day."""

    name = "circadian"
    kinds = (Kind.ACTIVITY_COUNTS, Kind.STEPS)
    features = FEATURES

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily circadian features from the subject's main activity series."""
        from .daygroups import day_frame

        return day_frame(self, *circadian_columns(epoch_grid(main_activity(series))))
