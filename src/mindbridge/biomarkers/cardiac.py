"""Cardiac: resting heart rate, heart rate in the main sleep period, and heart-rate variability from RR intervals.

| feature | unit | definition |
|---|---|---|
| `hr_mean` | /min | Mean of the day's minute-mean heart rates. |
| `resting_hr` | /min | Lowest mean heart rate over 5 consecutive fully-sampled minutes of the local day. |
| `sleep_hr` | /min | Mean minute heart rate inside the main sleep period ending that day (else 00:00-06:00). |
| `hrv_rmssd` | ms | Root mean square of successive differences of the day's accepted RR intervals. |
| `hrv_sdnn` | ms | Standard deviation of the day's accepted RR intervals. |
| `hrv_pnn50` | % | Percentage of successive accepted RR pairs differing by more than 50 ms. |
| `rr_rejected_fraction` | 1 | Fraction of the day's RR intervals rejected as artefacts. |

Rules. Heart-rate samples are averaged within each real (UTC) minute first, so bursts of dense sampling do
not outweigh the rest of the day. Resting heart rate needs 5 consecutive minutes that each hold a sample and
lie in the same local day. The main sleep period is taken from the subject's SLEEP_EPISODE records and the
asleep stages (asleep, light, deep, rem) of SLEEP_STAGE records: intervals separated by at most 30 min are
merged, and the longest merged period ending on a local day is that day's main sleep period. A day with no
recorded sleep falls back to the 00:00-06:00 local window. `sleep_hr` needs heart rate in at least half the
minutes of that window, else it is NaN.

RR artefact rejection, applied to each RR series on its own: an interval is rejected when it lies outside
300-2000 ms (30-200 beats/min) or differs by more than 20 % from the median of the 11 intervals centred on
it (the 20 % rule of Malik et al. 1993). A successive difference is used only when both intervals are
accepted, adjacent in the stream, and the second was time-stamped no later than 1.5 times its own length
after the first (so no beat was lost in between). HRV statistics are over the whole local day (24-h SDNN in
the Task Force 1996 sense, not a mean of 5-min values). `coverage_cardiac` is the fraction of the day's
minutes holding a heart-rate sample or an RR interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from ..datapoints import Kind, Series
from .base import Feature, coverage_column, empty_daily
from .daygroups import day_frame
from .localdays import NS_PER_MIN, day_index, days_spanning, labels, merged, ratio, wall_clock_utc

TASK_FORCE_1996 = ("Task Force of the European Society of Cardiology and the North American Society of Pacing "
                   "and Electrophysiology (1996). Heart rate variability: standards of measurement, physiological "
                   "interpretation and clinical use. Circulation 93(5):1043-1065.")
MALIK_1993 = ("Malik M, Xia R, Odemuyiwa O, Staunton A, Poloniecki J, Camm AJ (1993). Influence of the "
              "recognition artefact in automatic analysis of long-term electrocardiograms on time-domain "
              "measurement of heart rate variability. Medical & Biological Engineering & Computing 31(5):539-544.")
PALATINI_1999 = ("Palatini P (1999). Need for a revision of the normal limits of resting heart rate. "
                 "Hypertension 33(2):622-625.")
HALL_2004 = ("Hall M, Vasko R, Buysse D, Ombao H, Chen Q, Cashmere JD, Kupfer D, Thayer JF (2004). Acute stress "
             "affects heart rate variability during sleep. Psychosomatic Medicine 66(1):56-62.")

SLEEP_STAGES = ("awake", "asleep", "light", "deep", "rem", "in_bed")
ASLEEP_STAGES = ("asleep", "light", "deep", "rem")
RR_BOUNDS_MS = (300.0, 2000.0)


def merge_intervals(start: np.ndarray, end: np.ndarray, max_gap_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals, also joining those separated by at most `max_gap_ns`: (start, end) sorted."""
    if len(start) == 0:
        return start, end
    order = np.argsort(start, kind="stable")
    start, end = start[order], np.maximum.accumulate(end[order])
    new = np.r_[True, start[1:] > end[:-1] + max_gap_ns]
    first = np.flatnonzero(new)
    return start[first], np.maximum.reduceat(end, first)


def main_sleep_periods(series: Sequence[Series], bounds: np.ndarray, max_gap_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per local day, the UTC start and end of the longest merged sleep period ending that day (-1 if none)."""
    starts, ends = [], []
    for s in series:
        assert s.end is not None  # interval kinds always carry `end`
        keep = (np.isin(labels(s, "stage", SLEEP_STAGES), ASLEEP_STAGES) if s.kind is Kind.SLEEP_STAGE
                else np.ones(len(s), bool))
        starts.append(s.time.view(np.int64)[keep])
        ends.append(s.end.view(np.int64)[keep])
    n = len(bounds) - 1
    lo, hi = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    if not starts:
        return lo, hi
    start, end = merge_intervals(np.concatenate(starts), np.concatenate(ends), max_gap_ns)
    day = day_index(end - 1, bounds)
    inside = (day >= 0) & (day < n)
    start, end, day = start[inside], end[inside], day[inside]
    order = np.lexsort((end - start, day))
    last_of_day = np.r_[day[order][1:] != day[order][:-1], True] if len(order) else np.zeros(0, bool)
    pick = order[last_of_day]
    lo[day[pick]], hi[day[pick]] = start[pick], end[pick]
    return lo, hi


def accepted_rr(rr_ms: np.ndarray, utc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Artefact rejection for one RR stream: (accepted mask, mask of intervals that pair with their predecessor)."""
    local_median = median_filter(rr_ms, size=11, mode="nearest")
    ok = ((rr_ms >= RR_BOUNDS_MS[0]) & (rr_ms <= RR_BOUNDS_MS[1])
          & (np.abs(rr_ms - local_median) <= 0.2 * local_median))
    pairs = np.zeros(len(rr_ms), bool)
    pairs[1:] = ok[1:] & ok[:-1] & (np.diff(utc) <= 1.5 * rr_ms[1:] * 1e6)
    return ok, pairs


class Cardiac:
    """Heart-rate and heart-rate-variability features per local day."""

    name = "cardiac"
    kinds: tuple[Kind, ...] = (Kind.HEART_RATE, Kind.RR_INTERVAL, Kind.SLEEP_EPISODE, Kind.SLEEP_STAGE)
    features: tuple[Feature, ...] = (
        Feature("hr_mean", "/min", "Mean of the day's minute-mean heart rates.", PALATINI_1999),
        Feature("resting_hr", "/min",
                "Lowest mean heart rate over 5 consecutive minutes of the local day that each hold a sample.",
                PALATINI_1999),
        Feature("sleep_hr", "/min",
                "Mean minute heart rate inside the main sleep period ending that day, or 00:00-06:00 local time "
                "when no sleep was recorded.", HALL_2004),
        Feature("hrv_rmssd", "ms",
                "Root mean square of the successive differences between the day's accepted RR intervals.",
                TASK_FORCE_1996),
        Feature("hrv_sdnn", "ms", "Standard deviation of the day's accepted RR intervals.", TASK_FORCE_1996),
        Feature("hrv_pnn50", "%",
                "Percentage of successive accepted RR interval pairs that differ by more than 50 ms.",
                TASK_FORCE_1996),
        Feature("rr_rejected_fraction", "1",
                "Fraction of the day's RR intervals rejected as artefacts (physiological bounds or the 20 % rule).",
                MALIK_1993),
    )

    def __init__(self, resting_minutes: int = 5, sleep_merge_minutes: float = 30.0,
                 night_hours: tuple[float, float] = (0.0, 6.0), min_sleep_coverage: float = 0.5) -> None:
        if resting_minutes < 1:
            raise ValueError(f"resting_minutes must be at least 1, got {resting_minutes}")
        if not 0 <= min_sleep_coverage <= 1:
            raise ValueError(f"min_sleep_coverage must lie in [0, 1], got {min_sleep_coverage}")
        self.resting_minutes = resting_minutes
        self.sleep_merge_ns = round(sleep_merge_minutes * NS_PER_MIN)
        self.night_hours = night_hours
        self.min_sleep_coverage = min_sleep_coverage

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily cardiac features from one subject's heart-rate, RR and sleep series."""
        hr_series = [s for s in series if s.kind is Kind.HEART_RATE and len(s)]
        rr_series = [s for s in series if s.kind is Kind.RR_INTERVAL and len(s)]
        if not hr_series and not rr_series:
            return empty_daily(self)
        tz = (hr_series or rr_series)[0].tz
        hr_utc, hr_cols = merged(hr_series, ("value",))
        hr = hr_cols["value"].astype(float)
        hr_utc, hr = hr_utc[~np.isnan(hr)], hr[~np.isnan(hr)]
        rr_utc = np.concatenate([s.time.view(np.int64) for s in rr_series]) if rr_series else np.empty(0, np.int64)
        every = np.concatenate([hr_utc, rr_utc])
        days, bounds = days_spanning(int(every.min()), int(every.max()), tz)
        n = len(days)

        # Minute grid over the whole recording (real minutes), so windows never straddle a DST jump.
        m0 = int(bounds[0] // NS_PER_MIN)
        length = int(-(-bounds[-1] // NS_PER_MIN)) - m0
        minute_day = day_index((m0 + np.arange(length)) * NS_PER_MIN, bounds)
        hr_min = hr_utc // NS_PER_MIN - m0
        count = np.bincount(hr_min, minlength=length)
        mean = ratio(np.bincount(hr_min, hr, minlength=length), count)
        has_hr = count > 0
        any_data = has_hr | (np.bincount(rr_utc // NS_PER_MIN - m0, minlength=length) > 0)

        out: dict[str, np.ndarray] = {
            "hr_mean": ratio(np.bincount(minute_day[has_hr], mean[has_hr], minlength=n),
                             np.bincount(minute_day[has_hr], minlength=n)),
            "resting_hr": self._resting(mean, has_hr, minute_day, n),
            "sleep_hr": self._sleep_hr(series, days, bounds, tz, mean, has_hr, m0),
            coverage_column(self.name): np.bincount(minute_day[any_data], minlength=n) / (np.diff(bounds) / NS_PER_MIN),
        }
        out.update(self._hrv(rr_series, bounds))
        return day_frame(self, days, out)

    def _resting(self, mean: np.ndarray, has: np.ndarray, minute_day: np.ndarray, n: int) -> np.ndarray:
        """Per day, the lowest mean over `resting_minutes` consecutive sampled minutes within the day."""
        w = self.resting_minutes
        resting = np.full(n, np.inf)
        if len(mean) >= w:
            csum = np.r_[0.0, np.cumsum(np.where(has, mean, 0.0))]
            ccount = np.r_[0, np.cumsum(has)]
            window_mean = (csum[w:] - csum[:-w]) / w
            full = (ccount[w:] - ccount[:-w] == w) & (minute_day[: len(mean) - w + 1] == minute_day[w - 1:])
            np.minimum.at(resting, minute_day[: len(mean) - w + 1][full], window_mean[full])
        resting[np.isinf(resting)] = np.nan
        return resting

    def _sleep_hr(self, series: Sequence[Series], days: np.ndarray, bounds: np.ndarray, tz: str,
                  mean: np.ndarray, has: np.ndarray, m0: int) -> np.ndarray:
        """Per day, the mean minute heart rate in the main sleep period (or the night window)."""
        sleep = [s for s in series if s.kind in (Kind.SLEEP_EPISODE, Kind.SLEEP_STAGE) and len(s)]
        lo, hi = main_sleep_periods(sleep, bounds, self.sleep_merge_ns)
        none = lo < 0
        lo[none] = wall_clock_utc(days[none], tz, self.night_hours[0])
        hi[none] = wall_clock_utc(days[none], tz, self.night_hours[1])
        first = np.clip(-(-lo // NS_PER_MIN) - m0, 0, len(mean))
        last = np.clip(hi // NS_PER_MIN - m0, 0, len(mean))
        csum = np.r_[0.0, np.cumsum(np.where(has, mean, 0.0))]
        ccount = np.r_[0, np.cumsum(has)]
        sampled = ccount[last] - ccount[first]
        window = np.maximum((hi - lo) / NS_PER_MIN, 1.0)
        return np.where(sampled / window >= self.min_sleep_coverage, ratio(csum[last] - csum[first], sampled), np.nan)

    def _hrv(self, rr_series: Sequence[Series], bounds: np.ndarray) -> dict[str, np.ndarray]:
        """Per day RMSSD, SDNN, pNN50 and the rejected fraction over every RR series (each cleaned on its own)."""
        n = len(bounds) - 1
        day_parts, rr_parts, ok_parts, diff_parts, diff_day_parts = [], [], [], [], []
        for s in rr_series:
            utc, rr = s.time.view(np.int64), np.asarray(s.values, dtype=float)
            ok, pairs = accepted_rr(rr, utc)
            day = day_index(utc, bounds)
            day_parts.append(day)
            rr_parts.append(rr)
            ok_parts.append(ok)
            diff_parts.append(np.diff(rr)[pairs[1:]])
            diff_day_parts.append(day[pairs])
        if not rr_series:
            return {f: np.full(n, np.nan) for f in ("hrv_rmssd", "hrv_sdnn", "hrv_pnn50", "rr_rejected_fraction")}
        day, rr, ok = np.concatenate(day_parts), np.concatenate(rr_parts), np.concatenate(ok_parts)
        diff, diff_day = np.concatenate(diff_parts), np.concatenate(diff_day_parts)
        beats = np.bincount(day, minlength=n)
        kept = np.bincount(day[ok], minlength=n).astype(float)
        mean_rr = ratio(np.bincount(day[ok], rr[ok], minlength=n), kept)
        squares = np.bincount(day[ok], (rr[ok] - mean_rr[day[ok]]) ** 2, minlength=n)
        n_diff = np.bincount(diff_day, minlength=n)
        return {
            "hrv_rmssd": np.sqrt(ratio(np.bincount(diff_day, diff**2, minlength=n), n_diff)),
            "hrv_sdnn": np.where(kept >= 2, np.sqrt(ratio(squares, kept - 1)), np.nan),
            "hrv_pnn50": 100 * ratio(np.bincount(diff_day, np.abs(diff) > 50, minlength=n), n_diff),
            "rr_rejected_fraction": ratio(beats - kept, beats),
        }
