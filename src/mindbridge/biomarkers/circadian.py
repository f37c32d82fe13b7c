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
pandas-based tools compute, off by (24/23)(n-1)/n for IS and (n-1)/n for IV.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .epochs import EpochGrid, epoch_grid, main_activity

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
            "24-hour cosine.", HALBERG),
    Feature("cosinor_r2", "1", "Fraction of the day's activity variance explained by the fitted 24-hour "
            "cosine.", HALBERG),
)


def hourly_counts(counts: np.ndarray, epoch_s: int) -> np.ndarray:
    """Sum a `(days, epochs per day)` grid into `(days, 24)` hourly counts; an hour with any NaN is NaN.

    Epochs that do not divide an hour leave every hour NaN: IS and IV are then undefined.
    """
    if 3600 % epoch_s:
        return np.full((counts.shape[0], 24), np.nan)
    return np.asarray(counts, dtype=float).reshape(counts.shape[0], 24, -1).sum(axis=2)


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean over `axis` ignoring NaN; NaN (without a warning) where nothing is valid."""
    ok = ~np.isnan(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(ok, a, 0.0).sum(axis=axis) / ok.sum(axis=axis))


def _window_sums(a: np.ndarray, window: int) -> np.ndarray:
    """Sums over the `window` rows ending at each row (fewer at the start)."""
    c = np.concatenate([np.zeros((1, *a.shape[1:])), np.cumsum(a, axis=0)])
    ends = np.arange(1, len(a) + 1)
    return np.asarray(c[ends] - c[np.maximum(ends - window, 0)])


def stability_variability(hours: np.ndarray, window: int, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interdaily stability and intradaily variability over the `window` days ending at each day.

    `hours` is `(days, 24)` with NaN for invalid hours. Returns two arrays of one value per day,
    NaN where the window holds fewer than `MIN_WINDOW_HOURS` valid hours.
    """
    valid = ~np.isnan(hours)
    x = np.where(valid, hours, 0.0)
    s_h, c_h = _window_sums(x, window), _window_sums(valid.astype(float), window)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = s_h / c_h
        k = np.sum(c_h > 0, axis=1)
        dev = profile - _nanmean(np.where(c_h > 0, profile, np.nan), axis=1)[:, None]
        d24 = np.nansum(np.where(c_h > 0, dev ** 2, np.nan), axis=1) / (k - ddof)
        n = c_h.sum(axis=1)
        total = s_h.sum(axis=1)
        d1 = (_window_sums(x ** 2, window).sum(axis=1) - total ** 2 / n) / (n - ddof)
        flat, flat_ok = x.ravel(), valid.ravel()
        pair_ok = np.r_[False, flat_ok[1:] & flat_ok[:-1]]
        sq = np.where(pair_ok, np.r_[0.0, np.diff(flat) ** 2], 0.0).reshape(hours.shape)
        ok = pair_ok.reshape(hours.shape).astype(float)
        first = np.maximum(np.arange(len(hours)) - window + 1, 0)  # the pair entering the window's first hour
        sq_sum = _window_sums(sq, window).sum(axis=1) - sq[first, 0]
        ok_sum = _window_sums(ok, window).sum(axis=1) - ok[first, 0]
        iv = (sq_sum / ok_sum) / d1
        stab = d24 / d1
    enough = n >= MIN_WINDOW_HOURS
    return np.where(enough, stab, np.nan), np.where(enough, iv, np.nan)


def lmx(profiles: np.ndarray, epochs: int, lowest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and start index of the least (or most) active `epochs`-long cyclic window of each profile row.

    NaN values are left out of a window's mean; a row with no valid value gives NaN and index -1.
    """
    p = np.atleast_2d(np.asarray(profiles, dtype=float))
    valid = ~np.isnan(p)
    n = p.shape[1]
    both = np.concatenate([np.where(valid, p, 0.0), np.where(valid, p, 0.0)[:, : epochs - 1]], axis=1)
    cnt = np.concatenate([valid, valid[:, : epochs - 1]], axis=1).astype(float)
    cs = np.concatenate([np.zeros((len(p), 1)), np.cumsum(both, axis=1)], axis=1)
    cc = np.concatenate([np.zeros((len(p), 1)), np.cumsum(cnt, axis=1)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (cs[:, epochs:epochs + n] - cs[:, :n]) / (cc[:, epochs:epochs + n] - cc[:, :n])
    empty = np.all(np.isnan(means), axis=1)
    filled = np.where(np.isnan(means), np.inf if lowest else -np.inf, means)
    idx = np.argmin(filled, axis=1) if lowest else np.argmax(filled, axis=1)
    value = np.take_along_axis(means, idx[:, None], axis=1)[:, 0]
    return np.where(empty, np.nan, value), np.where(empty, -1, idx)


def relative_amplitude(m10: np.ndarray, l5: np.ndarray) -> np.ndarray:
    """(M10 - L5) / (M10 + L5), NaN when both are zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((m10 - l5) / (m10 + l5))


def cosinor(per_minute: np.ndarray, epoch_s: int) -> dict[str, np.ndarray]:
    """Least-squares 24 h cosine per row of a `(days, epochs per day)` grid: mesor, amplitude, acrophase, R²."""
    y = np.asarray(per_minute, dtype=float)
    valid = ~np.isnan(y)
    hours = np.arange(y.shape[1]) * epoch_s / 3600.0
    w = 2 * np.pi * hours / 24.0
    c, s = np.cos(w), np.sin(w)
    v = valid.astype(float)
    y0 = np.where(valid, y, 0.0)
    sums = v @ np.stack([np.ones_like(c), c, s, c * c, c * s, s * s], axis=1)
    a = np.empty((len(y), 3, 3))
    a[:, 0] = sums[:, [0, 1, 2]]
    a[:, 1] = sums[:, [1, 3, 4]]
    a[:, 2] = sums[:, [2, 4, 5]]
    rhs = y0 @ np.stack([np.ones_like(c), c, s], axis=1)
    solvable = np.abs(np.linalg.det(a)) > 1e-9 * np.maximum(sums[:, 0], 1.0) ** 3
    beta = np.full((len(y), 3), np.nan)
    if solvable.any():
        beta[solvable] = np.linalg.solve(a[solvable], rhs[solvable][..., None])[..., 0]
    yy = np.sum(y0 ** 2, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sst = yy - rhs[:, 0] ** 2 / sums[:, 0]
        sse = yy - np.sum(beta * rhs, axis=1)
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
    return {"mesor": beta[:, 0], "amplitude": np.hypot(beta[:, 1], beta[:, 2]),
            "acrophase": np.mod(np.arctan2(beta[:, 2], beta[:, 1]) * 24.0 / (2 * np.pi), 24.0),
            "r2": np.where(solvable, r2, np.nan)}


def _window_epochs(hours: float, epoch_s: int) -> int:
    return max(1, round(hours * 3600 / epoch_s))


def circadian_table(grid: EpochGrid) -> pd.DataFrame:
    """The circadian family's daily table from one epoch grid."""
    per_min = grid.masked() / grid.epoch_minutes
    cover = grid.coverage()
    day_ok = cover >= MIN_DAY_COVERAGE
    ten, five = _window_epochs(10, grid.epoch_s), _window_epochs(5, grid.epoch_s)
    m10, m10_at = lmx(per_min, ten, lowest=False)
    l5, l5_at = lmx(per_min, five, lowest=True)
    hours = hourly_counts(grid.masked(), grid.epoch_s)
    is7, iv7 = stability_variability(hours, WINDOW_DAYS)
    is_all, iv_all = stability_variability(hours, grid.n_days)
    average_day = _nanmean(per_min, axis=0)
    m10r, _ = lmx(average_day, ten, lowest=False)
    l5r, _ = lmx(average_day, five, lowest=True)
    cos = cosinor(per_min, grid.epoch_s)
    h_per_epoch = grid.epoch_s / 3600.0

    def daily(a: np.ndarray) -> np.ndarray:
        return np.where(day_ok, a, np.nan)

    data = {
        "m10": daily(m10), "m10_onset": daily(m10_at * h_per_epoch),
        "l5": daily(l5), "l5_onset": daily(l5_at * h_per_epoch),
        "relative_amplitude": daily(relative_amplitude(m10, l5)),
        "interdaily_stability_7d": is7, "intradaily_variability_7d": iv7,
        "interdaily_stability": np.full(grid.n_days, is_all[-1]),
        "intradaily_variability": np.full(grid.n_days, iv_all[-1]),
        "m10_recording": np.full(grid.n_days, m10r[0]), "l5_recording": np.full(grid.n_days, l5r[0]),
        "relative_amplitude_recording": np.full(grid.n_days, relative_amplitude(m10r, l5r)[0]),
        "cosinor_mesor": daily(cos["mesor"]), "cosinor_amplitude": daily(cos["amplitude"]),
        "cosinor_acrophase": daily(cos["acrophase"]), "cosinor_r2": daily(cos["r2"]),
        coverage_column("circadian"): cover,
    }
    return pd.DataFrame(data, index=grid.days)


class CircadianFamily:
    """Rest-activity rhythm: M10, L5, RA, IS, IV and a 24 h cosinor per local day."""

    name = "circadian"
    kinds = (Kind.ACTIVITY_COUNTS, Kind.STEPS)
    features = FEATURES

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily circadian features from the subject's main activity series."""
        return circadian_table(epoch_grid(main_activity(series)))
