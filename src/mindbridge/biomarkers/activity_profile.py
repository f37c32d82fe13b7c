"""The shape of a day's activity: its distribution, its clock-time profile, its day-to-day and minute-to-minute
regularity, and the scaling of its rest bouts.

| name | unit | definition |
|---|---|---|
| activity_log_mean, activity_log_sd | 1 | Mean and sd of ln(1 + counts per minute) over worn epochs. |
| activity_log_q50, activity_log_q75, activity_log_q95 | 1 | Quantiles of ln(1 + counts per minute) over worn epochs. |
| activity_cv | 1 | Coefficient of variation (sd / mean) of counts per minute over worn epochs. |
| activity_block_00 … activity_block_20 | 1 | Mean ln(1 + counts per minute) in the 4-hour block from that hour. |
| activity_day_night | 1 | ln(1 + mean 08–20 h) − ln(1 + mean 20–08 h), counts per minute. |
| activity_lag1_autocorrelation | 1 | Correlation of ln(1 + counts) between consecutive worn epochs. |
| activity_day_autocorrelation | 1 | Correlation of ln(1 + counts) with the same clock epoch of the previous day. |
| activity_hourly_entropy | 1 | Shannon entropy of the 24 hourly shares of the day's activity, over ln 24. |
| activity_rest_exponent | 1 | Power-law exponent of the day's rest-bout durations (Nakamura et al. 2007). |

Rules about non-wear and missing data: non-wear epochs (the rule of `epochs.nonwear`) and missing epochs are
excluded from every statistic, never read as zero activity. A day's features need `MIN_DAY_COVERAGE` of its
epochs worn, else they are NaN; a 4-hour block needs half its epochs worn; an hour enters the entropy when half
its epochs are worn (its share is its mean per worn epoch); the day-to-day autocorrelation needs half a day of
clock epochs worn on both days; the rest exponent needs `MIN_BOUTS` rest bouts of at least `MIN_REST_EPOCHS`
epochs. Counts are scaled to per minute before the logarithm so that epoch length does not shift the values.
Only numpy runs here; pandas is imported by `ActivityProfile.daily` alone, to shape the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..datapoints import Kind, Series
from .activity import GARCIA_CEJA
from .base import Feature, coverage_column
from .circadian import MIN_DAY_COVERAGE, WITTING
from .epochs import EpochGrid, epoch_grid, main_activity, runs
from .rowstats import nan_mean_sd, nan_sum, row_quantiles

if TYPE_CHECKING:
    import pandas as pd

BLOCK_HOURS = 4
DAY_HOURS, NIGHT_START = (8, 20), 20
QUANTILES = (50, 75, 95)
MIN_REST_EPOCHS = 2
MIN_BOUTS = 10
REST_FRACTION = 0.5
FLAT = 1e-20

BERLE = ("Berle JO, Hauge ER, Oedegaard KJ, Holsten F, Fasmer OB (2010). Actigraphic registration of motor activity "
         "reveals a more structured behavioural pattern in schizophrenia than in major depression. BMC Research "
         "Notes 3:149.")
HAUGE = ("Hauge ER, Berle JO, Oedegaard KJ, Holsten F, Fasmer OB (2011). Nonlinear analysis of motor activity "
         "shows differences between schizophrenia and depression: a study using Fourier analysis and sample "
         "entropy. PLoS ONE 6(1):e16291.")
NAKAMURA = ("Nakamura T, Kiyono K, Yoshiuchi K, Nakahara R, Struzik ZR, Yamamoto Y (2007). Universal scaling law "
            "in human behavioral organization. Physical Review Letters 99(13):138103.")
CLAUSET = ("Clauset A, Shalizi CR, Newman MEJ (2009). Power-law distributions in empirical data. SIAM Review "
           "51(4):661-703.")

BLOCKS = tuple(range(0, 24, BLOCK_HOURS))
# the columns that are NaN on a day worn less than MIN_DAY_COVERAGE
_MASKED_BELOW_COVERAGE = ("activity_log_mean", "activity_log_sd", *(f"activity_log_q{q}" for q in QUANTILES),
                          "activity_cv", *(f"activity_block_{h:02d}" for h in BLOCKS), "activity_day_night",
                          "activity_lag1_autocorrelation", "activity_hourly_entropy")
FEATURES = (
    Feature("activity_log_mean", "1", "Mean of ln(1 + counts per minute) over the day's worn epochs: the typical "
            "activity level, less dominated by a few intense bouts than the plain mean.", GARCIA_CEJA),
    Feature("activity_log_sd", "1", "Standard deviation of ln(1 + counts per minute) over the day's worn epochs.",
            GARCIA_CEJA),
    *(Feature(f"activity_log_q{q}", "1", f"{q}th percentile of ln(1 + counts per minute) over the day's worn "
              "epochs.", GARCIA_CEJA) for q in QUANTILES),
    Feature("activity_cv", "1", "Coefficient of variation (standard deviation over mean) of counts per minute over "
            "the day's worn epochs.", BERLE),
    *(Feature(f"activity_block_{h:02d}", "1", f"Mean of ln(1 + counts per minute) over the worn epochs of local "
              f"clock hours {h:02d}-{h + BLOCK_HOURS:02d}; NaN when fewer than half of them are worn.", WITTING)
      for h in BLOCKS),
    Feature("activity_day_night", "1", f"ln(1 + mean counts per minute from {DAY_HOURS[0]:02d} to {DAY_HOURS[1]} h) "
            f"minus ln(1 + mean counts per minute from {NIGHT_START} to {DAY_HOURS[0]:02d} h), worn epochs only.",
            WITTING),
    Feature("activity_lag1_autocorrelation", "1", "Pearson correlation of ln(1 + counts) between consecutive worn "
            "epochs of the day: how smoothly activity changes from one epoch to the next.", HAUGE),
    Feature("activity_day_autocorrelation", "1", "Pearson correlation of ln(1 + counts) between the day and the "
            "previous day at the same clock epoch (lag 24 h), over epochs worn on both; NaN when fewer than half "
            "a day's epochs pair up.", WITTING),
    Feature("activity_hourly_entropy", "1", "Shannon entropy of the 24 hourly shares of the day's activity "
            "(each hour's mean count per worn epoch), divided by ln 24: 1 when activity is spread evenly over the "
            "clock, lower when concentrated.", HAUGE),
    Feature("activity_rest_exponent", "1", f"Exponent gamma of the power-law P(rest bout >= d) ~ d^-gamma, fitted by "
            f"maximum likelihood to the day's rest bouts (consecutive worn epochs below {REST_FRACTION:g} times the "
            f"day's mean count) of at least {MIN_REST_EPOCHS} epochs; depressed patients show a lower gamma "
            f"(more long rests). NaN with fewer than {MIN_BOUTS} bouts.", f"{NAKAMURA} {CLAUSET}"),
)


def _row_correlation(a: np.ndarray, b: np.ndarray, minimum: int) -> np.ndarray:
    """Pearson correlation per row over the columns where both are present; NaN below `minimum` pairs or when
    either side is constant."""
    both = ~np.isnan(a) & ~np.isnan(b)
    n = both.sum(axis=1)
    a, b = np.where(both, a, 0.0), np.where(both, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        da = np.where(both, a - a.sum(axis=1, keepdims=True) / n[:, None], 0.0)
        db = np.where(both, b - b.sum(axis=1, keepdims=True) / n[:, None], 0.0)
        sa, sb = (da * da).sum(axis=1), (db * db).sum(axis=1)
        r = (da * db).sum(axis=1) / np.sqrt(sa * sb)
    constant = (sa <= FLAT * n) | (sb <= FLAT * n)  # rounding residue of a constant row, not variance
    return np.where((n >= max(minimum, 3)) & ~constant, r, np.nan)


def rest_exponent(bouts: np.ndarray, minimum: int = MIN_REST_EPOCHS) -> float:
    """Maximum-likelihood exponent gamma of P(D >= d) ~ d^-gamma for integer bout lengths >= `minimum`.

    Discrete data use the continuous estimator with the lower bound shifted by one half (Clauset et al. 2009,
    eq. 3.7): alpha = 1 + n / sum ln(d / (minimum - 1/2)), and gamma = alpha - 1.
    """
    d = np.asarray(bouts, dtype=float)
    d = d[d >= minimum]
    if len(d) < MIN_BOUTS:
        return float("nan")
    return float(len(d) / np.log(d / (minimum - 0.5)).sum())


def _rest_exponents(masked: np.ndarray, enough: np.ndarray) -> np.ndarray:
    """The rest exponent of each sufficiently worn day; rest bouts are broken by missing or non-wear epochs."""
    out = np.full(len(masked), np.nan)
    for day in np.flatnonzero(enough):
        x = masked[day]
        present = ~np.isnan(x)
        rest = present & (x < REST_FRACTION * (nan_sum(x) / present.sum()))
        starts, ends = runs(rest)
        out[day] = rest_exponent(ends - starts)
    return out


def _clock_mean(logged: np.ndarray, worn: np.ndarray, hours: tuple[float, float], per_hour: float) -> np.ndarray:
    """Mean of each day's values in local clock hours [from, to), NaN when fewer than half are worn."""
    part = slice(round(hours[0] * per_hour), round(hours[1] * per_hour))
    n = worn[:, part].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = nan_sum(logged[:, part], axis=1) / n
    return np.where(2 * n >= part.stop - part.start, mean, np.nan)


def _block_means(logged: np.ndarray, worn: np.ndarray) -> np.ndarray:
    """`(blocks, days)` means of each day's values in the clock blocks of `BLOCKS`, NaN under half worn."""
    shape = (len(logged), len(BLOCKS), -1)
    n = worn.reshape(shape).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(worn, logged, 0.0).reshape(shape).sum(axis=2) / n
    return np.where(2 * n >= logged.shape[1] // len(BLOCKS), mean, np.nan).T


def _hourly_entropy(per_minute: np.ndarray, worn: np.ndarray, per_hour: int) -> np.ndarray:
    """Normalised entropy of the hourly activity shares, hours with half their epochs worn."""
    days = len(per_minute)
    hourly_worn = worn.reshape(days, 24, per_hour).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        hourly = nan_sum(per_minute.reshape(days, 24, per_hour), axis=2) / hourly_worn
        hourly = np.where(2 * hourly_worn >= per_hour, hourly, np.nan)
        total = nan_sum(hourly, axis=1, keepdims=True)
        share = hourly / total
        entropy = -nan_sum(np.where(share > 0, share * np.log(share), 0.0), axis=1) / np.log(24)
    used = (~np.isnan(hourly)).sum(axis=1)
    return np.where((used > 0) & (total[:, 0] > 0), entropy, np.nan)


def profile_columns(grid: EpochGrid, skip: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The activity-profile family's local days (`datetime64[D]`) and daily feature columns from one epoch grid.

    The first `skip` days get no columns: they serve only as the day before in the day-to-day autocorrelation
    (the edge passes its last two days and skips one). Row-wise statistics of several arrays run stacked, one
    numpy call for all, since the edge's CPU goes on the number of calls more than on their arithmetic.
    """
    if not 0 <= skip < grid.n_days:
        raise ValueError(f"skip must leave at least one of the grid's {grid.n_days} day(s), got {skip}")
    per_minute_all = grid.masked / grid.epoch_minutes
    logged_all = np.log1p(np.maximum(per_minute_all, 0.0))
    previous = np.concatenate([np.full((1, grid.per_day), np.nan), logged_all[:-1]])[skip:]
    masked, worn, logged, per_minute = grid.masked[skip:], grid.worn[skip:], logged_all[skip:], per_minute_all[skip:]
    cover = grid.coverage()[skip:]
    enough = cover >= MIN_DAY_COVERAGE
    days, per_hour = len(logged), grid.per_day / 24
    stats = nan_mean_sd(np.concatenate([logged, per_minute]), axis=1)
    (log_mean, mean), (log_sd, sd) = (a.reshape(2, days) for a in stats)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.where(mean > 0, sd / mean, np.nan)
    day = _clock_mean(per_minute, worn, DAY_HOURS, per_hour)
    night_part = np.concatenate([per_minute[:, round(NIGHT_START * per_hour):],
                                 per_minute[:, :round(DAY_HOURS[0] * per_hour)]], axis=1)
    night = _clock_mean(night_part, ~np.isnan(night_part), (0, night_part.shape[1] / per_hour), per_hour)
    following = np.concatenate([logged.ravel()[1:], [np.nan]]).reshape(logged.shape)  # lag 1, across midnight
    lag1, day_to_day = _row_correlation(np.concatenate([logged, logged]), np.concatenate([following, previous]),
                                        grid.per_day // 2).reshape(2, days)
    # rows in the order of _MASKED_BELOW_COVERAGE, which names them
    daily = np.concatenate([log_mean[None], log_sd[None], row_quantiles(logged, [q / 100 for q in QUANTILES]),
                            cv[None], _block_means(logged, worn), (np.log1p(day) - np.log1p(night))[None],
                            lag1[None], _hourly_entropy(per_minute, worn, int(per_hour))[None]])
    columns = dict(zip(_MASKED_BELOW_COVERAGE, np.where(enough, daily, np.nan), strict=True))
    columns.update(activity_day_autocorrelation=day_to_day, activity_rest_exponent=_rest_exponents(masked, enough))
    ordered = {f.name: columns[f.name] for f in FEATURES}
    ordered[coverage_column("activity_profile")] = cover
    return grid.days[skip:], ordered


class ActivityProfile:
    """Distribution, clock profile, regularity and rest-bout scaling of each day's activity."""

    name = "activity_profile"
    kinds = (Kind.ACTIVITY_COUNTS, Kind.STEPS)
    features = FEATURES

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily activity-profile features from the subject's main activity series."""
        from .daygroups import day_frame

        return day_frame(self, *profile_columns(epoch_grid(main_activity(series))))
