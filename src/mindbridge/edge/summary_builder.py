"""Build the day's RiskSummary: window probability with its interval, risk band, deviations, coverage, surveys.

Probability: the mean calibrated probability of the scored days among the last `SUMMARY_DAYS` (a day is
scored when at least `MIN_COVERAGE` of it was worn), as the Depresjon benchmark aggregates a person's
days. Interval: 90 % percentile bootstrap of that mean over the scored days, computed exactly (every
distinct resample of at most `SUMMARY_DAYS` days with its multinomial weight, so no random draw and no seed);
it reflects day-to-day spread only, not the model's own uncertainty. Risk band: when the card carries a
split-conformal threshold (`models.conformal`, fitted on calibrated day probabilities), the conformal set
of the window probability at the card's α — high when it holds only "depressive", low when only "not",
moderate when both (or neither); without one, the interval against the card's decision threshold t (high
when the lower bound is at least t, low when the upper bound is below t). The window is the raw input
span: from the first scored day's trailing feature window to the day.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from ..biomarkers.base import coverage_column
from ..biomarkers.surveys import score_all
from ..biomarkers.trailing import FAMILIES, feature_units
from ..models.conformal import ConformalSets
from ..models.robust import MIN_COVERAGE, Shift
from ..summary import MAX_SURVEYS, Interval, RiskBand, RiskSummary, SurveyScore
from .baseline import Baseline, top_deviations
from .model_loader import EdgeModel

SUMMARY_DAYS = 7
LEVEL = 0.9


def scored(coverage: np.ndarray) -> np.ndarray:
    """Which days are worn enough for their probability to count."""
    return np.asarray(coverage, dtype=float) >= MIN_COVERAGE


@lru_cache(maxsize=SUMMARY_DAYS)
def _resamples(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct bootstrap resample of `n` values as `(resamples, n)` counts, and each one's probability."""
    picks = np.array(list(itertools.combinations_with_replacement(range(n), n)))
    counts = (picks[:, :, None] == np.arange(n)).sum(axis=1)
    factorial = np.array([math.factorial(k) for k in range(n + 1)], dtype=float)
    weight = factorial[n] / factorial[counts].prod(axis=1) / float(n) ** n
    counts.flags.writeable = weight.flags.writeable = False  # shared by every later call
    return counts, weight


def bootstrap_interval(p: np.ndarray) -> tuple[float, float]:
    """Exact percentile bootstrap interval (level `LEVEL`) of the mean of at most `SUMMARY_DAYS` values."""
    if not 1 <= len(p) <= SUMMARY_DAYS:
        raise ValueError(f"the exact bootstrap takes 1 to {SUMMARY_DAYS} values, got {len(p)}")
    counts, weight = _resamples(len(p))
    means = counts @ p / len(p)
    order = means.argsort(kind="stable")
    ordered, cdf = means[order], weight[order].cumsum()
    lo, hi = (ordered[min(int(cdf.searchsorted(q)), len(cdf) - 1)] for q in ((1 - LEVEL) / 2, (1 + LEVEL) / 2))
    mean = float(p.mean())
    return min(float(lo), mean), max(float(hi), mean)


def conformal_band(probability: float, conformal: ConformalSets) -> RiskBand:
    """The card's split-conformal set of the probability: {depressive} 'high', {not} 'low', both or none 'moderate'."""
    zero, one = conformal.predict(np.array([probability]))[0]
    return "high" if one and not zero else "low" if zero and not one else "moderate"


def risk_band(interval: Interval, threshold: float) -> RiskBand:
    """'high' when the whole interval is at or above the threshold, 'low' when wholly below, else 'moderate'."""
    if interval.lower >= threshold:
        return "high"
    return "low" if interval.upper < threshold else "moderate"


def band(model: EdgeModel, probability: float, interval: Interval) -> RiskBand:
    """The card's conformal band of the probability when it has one, else the interval's against its threshold."""
    if model.conformal is not None:
        return conformal_band(probability, model.conformal)
    return risk_band(interval, model.threshold)


def survey_scores(day: dt.date, answers: Mapping[str, float]) -> list[SurveyScore]:
    """Every questionnaire the answers (LOINC item code → 0–3) score validly, e.g. PHQ-9 with item 9 flagged."""
    return [SurveyScore(instrument=s.instrument, loinc=s.loinc, date=day, total=s.total, band=s.band,
                        flagged_items=s.flagged_items)
            for s in score_all(answers) if np.isfinite(s.total)][:MAX_SURVEYS]


def build_summary(*, subject: str, model: EdgeModel, days: list[dt.date], history: Mapping[str, np.ndarray],
                  probability: np.ndarray, baseline: Baseline, shifts: Mapping[str, Shift], window_days: int,
                  now: dt.datetime, answers: Mapping[str, float] | None = None) -> RiskSummary | None:
    """The summary of the last day in `days` from the history columns, or None when no recent day is scored."""
    day = days[-1]
    recent = np.array([(day - d).days < SUMMARY_DAYS for d in days])
    use = recent & scored(history[coverage_column("activity")]) & ~np.isnan(probability)
    if not use.any():
        return None
    p = probability[use]
    lower, upper = bootstrap_interval(p)
    interval = Interval(lower=lower, upper=upper, level=LEVEL, method="bootstrap")
    first = days[int(use.nonzero()[0][0])] - dt.timedelta(days=window_days - 1)
    mean = float(p.mean())
    return RiskSummary(
        subject=subject, window_start=first, window_end=day, created_at=now, model_id=model.model_id,
        model_version=model.version, probability=mean, interval=interval, risk_band=band(model, mean, interval),
        deviations=top_deviations(day, baseline, feature_units(), shifts),
        coverage={f: min(max(float(history[coverage_column(f)][-1]), 0.0), 1.0) for f in FAMILIES},
        surveys=survey_scores(day, answers) if answers else [])
