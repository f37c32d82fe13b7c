"""Metabolic and endocrine families: CGM glucose (GLUCOSE series) and a diurnal hormone such as cortisol.

Glucose, per local day, from the readings themselves (each reading stands for one sampling interval, so
percentages of readings are percentages of time for a regular CGM):

| feature | unit | definition |
|---|---|---|
| glucose_mean | mg/dL | mean glucose |
| glucose_sd | mg/dL | sample standard deviation (n − 1) |
| glucose_cv | % | 100 · SD / mean |
| glucose_tir | % | readings in 70–180 mg/dL inclusive |
| glucose_tbr70 | % | readings below 70 mg/dL (level 1 and 2 hypoglycaemia) |
| glucose_tbr54 | % | readings below 54 mg/dL (level 2) |
| glucose_tar180 | % | readings above 180 mg/dL (level 1 and 2 hyperglycaemia) |
| glucose_tar250 | % | readings above 250 mg/dL (level 2) |
| glucose_mage | mg/dL | mean amplitude of glycaemic excursions (variant below) |

MAGE variant: the day's readings in time order are reduced to turning points; a hysteresis pass keeps the
alternating peaks and nadirs whose successive differences are at least the day's SD (Service et al. 1970's
"excursions exceeding one SD"); legs touching the day's first or last reading are partial and dropped;
MAGE is the mean amplitude of the remaining legs in the direction of the first one (the original
one-direction rule). Days with fewer than 3 readings or no qualifying excursion give NaN. The pass loops
over turning points (tens a day), not samples. `coverage_glucose` is readings × the subject's median
sampling interval over 24 h, at most 1.

Hormone (one analyte, e.g. cortisol in nmol/L; samples of other analytes are ignored). Waking time is the
end of the day's main sleep episode (the longest episode ending that local day) when a SLEEP_EPISODE series
is given, else the day's first sample. The awakening sample is the first one within −5 … +15 min of waking
(Stalder et al. 2016 treat later sampling as non-adherent); the awakening window runs 45 min from it.

| feature | unit | definition |
|---|---|---|
| <analyte>_car_auci | nmol.min/L | area under the curve with respect to increase over the awakening window |
| <analyte>_car_increase | nmol/L | highest sample in the awakening window minus the awakening sample |
| <analyte>_diurnal_slope | nmol/L/h | least-squares slope of concentration on hours since waking |
| <analyte>_samples | {samples} | samples of the analyte that day |

The awakening response needs the awakening sample and one more within 45 min. The diurnal slope uses the
awakening sample and every sample after the awakening window (the CAR peak is excluded, as in Adam et al.
2017's wake-to-bed slope) and needs 2 such samples spanning at least 4 h. `coverage_<analyte>` is the
fraction of these two measures the day's samples allowed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .daygroups import day_codes, day_frame, pooled

DAY = np.timedelta64(1, "D")
MINUTE = np.timedelta64(60_000_000_000, "ns")
HOUR = 60 * MINUTE
TIR_LOW, TIR_HIGH, TBR2, TAR2 = 70.0, 180.0, 54.0, 250.0
WAKE_EARLY, WAKE_LATE, CAR_WINDOW = 5 * MINUTE, 15 * MINUTE, 45 * MINUTE
MIN_SLOPE_SPAN = 4 * HOUR

_BATTELINO = ("Battelino T, Danne T, Bergenstal RM, et al. (2019). Clinical targets for continuous glucose "
              "monitoring data interpretation: recommendations from the International Consensus on Time in "
              "Range. Diabetes Care 42(8):1593–1603.")
_DANNE = ("Danne T, Nimri R, Battelino T, et al. (2017). International consensus on use of continuous glucose "
          "monitoring. Diabetes Care 40(12):1631–1640.")
_SERVICE = ("Service FJ, Molnar GD, Rosevear JW, Ackerman E, Gatewood LC, Taylor WF (1970). Mean amplitude of "
            "glycemic excursions, a measure of diabetic instability. Diabetes 19(9):644–655.")
_PRUESSNER = ("Pruessner JC, Kirschbaum C, Meinlschmid G, Hellhammer DH (2003). Two formulas for computation of "
              "the area under the curve represent measures of total hormone concentration versus time-dependent "
              "change. Psychoneuroendocrinology 28(7):916–931.")
_STALDER = ("Stalder T, Kirschbaum C, Kudielka BM, et al. (2016). Assessment of the cortisol awakening "
            "response: expert consensus guidelines. Psychoneuroendocrinology 63:414–432.")
_ADAM = ("Adam EK, Quinn ME, Tavernier R, McQuillan MT, Dahlke KA, Gilbert KE (2017). Diurnal cortisol slopes "
         "and mental and physical health outcomes: a systematic review and meta-analysis. "
         "Psychoneuroendocrinology 83:25–41.")


class GlucoseFamily:
    """Daily CGM glucose: level, variability (SD, CV, MAGE) and time in, below and above range."""

    name = "glucose"
    kinds: tuple[Kind, ...] = (Kind.GLUCOSE,)
    features: tuple[Feature, ...] = (
        Feature("glucose_mean", "mg/dL", "Mean glucose over the day's readings.", _DANNE),
        Feature("glucose_sd", "mg/dL", "Sample standard deviation of the day's glucose readings.", _DANNE),
        Feature("glucose_cv", "%", "Coefficient of variation, 100 times the SD over the mean.", _DANNE),
        Feature("glucose_tir", "%", "Share of readings from 70 to 180 mg/dL inclusive (time in range).",
                _BATTELINO),
        Feature("glucose_tbr70", "%", "Share of readings below 70 mg/dL (time below range, levels 1 and 2).",
                _BATTELINO),
        Feature("glucose_tbr54", "%", "Share of readings below 54 mg/dL (time below range, level 2).",
                _BATTELINO),
        Feature("glucose_tar180", "%", "Share of readings above 180 mg/dL (time above range, levels 1 and 2).",
                _BATTELINO),
        Feature("glucose_tar250", "%", "Share of readings above 250 mg/dL (time above range, level 2).",
                _BATTELINO),
        Feature("glucose_mage", "mg/dL", "Mean amplitude of the day's complete glycaemic excursions larger than "
                "one SD, in the direction of the first one.", _SERVICE),
    )

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """One row per local day with readings: glucose level, variability and time in ranges."""
        local, values = pooled(series, "value")
        values = values.astype(float)
        days, codes = day_codes(local)
        if not len(days):
            return day_frame(self, days, {})
        n = np.bincount(codes, minlength=len(days)).astype(float)
        mean = np.bincount(codes, weights=values) / n
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.bincount(codes, weights=(values - mean[codes]) ** 2) / (n - 1))

        def share(mask: np.ndarray) -> np.ndarray:
            return 100.0 * np.bincount(codes, weights=mask.astype(float), minlength=len(days)) / n

        starts = np.searchsorted(codes, np.arange(len(days) + 1))
        step = np.diff(local.view(np.int64))
        interval = float(np.median(step[step > 0])) if (step > 0).any() else 5 * 60e9
        return day_frame(self, days, {
            "glucose_mean": mean, "glucose_sd": sd, "glucose_cv": 100.0 * sd / mean,
            "glucose_tir": share((values >= TIR_LOW) & (values <= TIR_HIGH)),
            "glucose_tbr70": share(values < TIR_LOW), "glucose_tbr54": share(values < TBR2),
            "glucose_tar180": share(values > TIR_HIGH), "glucose_tar250": share(values > TAR2),
            "glucose_mage": np.array([mage(values[a:b]) for a, b in itertools.pairwise(starts)]),
            coverage_column(self.name): np.minimum(1.0, n * interval / (24 * 3600e9)),
        })


def mage(values: np.ndarray) -> float:
    """MAGE of one day's readings in time order, by the variant documented in the module docstring."""
    x = values[np.isfinite(values)]
    if len(x) < 3:
        return float("nan")
    sd = float(x.std(ddof=1))
    if not sd > 0:
        return float("nan")
    x = x[np.concatenate(([True], np.diff(x) != 0))]
    rising = np.diff(x) > 0
    turns = np.concatenate(([0], np.flatnonzero(rising[1:] != rising[:-1]) + 1, [len(x) - 1]))
    pivots = _pivots(x[turns], sd)
    pivots = [p for p in pivots if 0 < p < len(turns) - 1]
    swings = np.diff(x[turns][pivots])
    if not len(swings):
        return float("nan")
    return float(np.abs(swings[np.sign(swings) == np.sign(swings[0])]).mean())


def _pivots(v: np.ndarray, threshold: float) -> list[int]:
    """Indices of alternating extremes of `v` whose successive differences are all at least `threshold`."""
    low = high = 0
    trend, ext, pivots = 0, 0, []
    for i in range(1, len(v)):
        if trend == 0:
            low, high = (i if v[i] < v[low] else low), (i if v[i] > v[high] else high)
            if v[i] - v[low] >= threshold:
                pivots, trend, ext = [low], 1, i
            elif v[high] - v[i] >= threshold:
                pivots, trend, ext = [high], -1, i
        elif trend * (v[i] - v[ext]) > 0:
            ext = i
        elif trend * (v[ext] - v[i]) >= threshold:
            pivots.append(ext)
            trend, ext = -trend, i
    return [*pivots, ext] if trend else []


class HormoneFamily:
    """Daily diurnal hormone features for one analyte: awakening response and diurnal slope."""

    kinds: tuple[Kind, ...] = (Kind.HORMONE, Kind.SLEEP_EPISODE)

    def __init__(self, analyte: str = "cortisol") -> None:
        self.name = analyte
        self.features: tuple[Feature, ...] = (
            Feature(f"{analyte}_car_auci", "nmol.min/L", f"Area under the {analyte} curve with respect to "
                    "increase over the 45 min after the awakening sample.", _PRUESSNER),
            Feature(f"{analyte}_car_increase", "nmol/L", f"Highest {analyte} level within 45 min of the awakening "
                    "sample minus the awakening level.", _STALDER),
            Feature(f"{analyte}_diurnal_slope", "nmol/L/h", f"Least-squares slope of {analyte} on hours since "
                    "waking, from the awakening sample and samples after the awakening window.", _ADAM),
            Feature(f"{analyte}_samples", "{samples}", f"Number of {analyte} samples that day.", _STALDER),
        )

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """One row per local day with samples of the analyte: awakening response and diurnal slope."""
        hormone = [s for s in series if s.kind is Kind.HORMONE]
        local, values = pooled(hormone, "value")
        _, analyte = pooled(hormone, "analyte")
        mine = np.char.lower(analyte.astype(str)) == self.name.lower()
        local, values = local[mine], values[mine].astype(float)
        days, codes = day_codes(local)
        wakes = _wake_times([s for s in series if s.kind is Kind.SLEEP_EPISODE])
        starts = np.searchsorted(codes, np.arange(len(days) + 1))
        rows = [_hormone_day(local[a:b], values[a:b], wakes.get(day))
                for day, a, b in zip(days, starts[:-1], starts[1:], strict=True)]
        table = np.array(rows, dtype=float).reshape(len(days), 4)
        names = [f.name for f in self.features]
        columns = {name: table[:, i] for i, name in enumerate(names[:3])}
        columns[names[3]] = np.diff(starts)
        columns[coverage_column(self.name)] = table[:, 3]
        return day_frame(self, days, columns)


def _wake_times(sleep: Sequence[Series]) -> dict[np.datetime64, np.datetime64]:
    """Local waking time per local day: the end of the longest sleep episode ending that day."""
    parts = []
    for s in sleep:
        assert s.end is not None  # an interval kind always has `end`
        ends = dataclasses.replace(s, time=s.end).local_time()
        parts.append(pd.DataFrame({"end": ends, "length": s.end - s.time}))
    if not parts:
        return {}
    frame = pd.concat(parts, ignore_index=True).sort_values("length", kind="stable")
    frame["day"] = frame["end"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    main = frame.drop_duplicates("day", keep="last")
    return dict(zip(main["day"].to_numpy(dtype="datetime64[D]"), main["end"].to_numpy(dtype="datetime64[ns]"),
                    strict=True))


def _hormone_day(t: np.ndarray, v: np.ndarray, wake: np.datetime64 | None) -> tuple[float, float, float, float]:
    """CAR AUCi, CAR increase, diurnal slope and coverage for one day's samples (time order)."""
    nan = float("nan")
    wake = t[0] if wake is None else wake
    near = np.flatnonzero((t >= wake - WAKE_EARLY) & (t <= wake + WAKE_LATE))
    if not len(near):
        return nan, nan, nan, 0.0
    first = near[0]
    t0, v0 = t[first], v[first]
    window = (t >= t0) & (t <= t0 + CAR_WINDOW)
    auci = increase = nan
    if window.sum() >= 2:
        minutes = (t[window] - t0) / MINUTE
        auci = float(np.trapezoid(v[window], minutes) - v0 * minutes[-1])
        increase = float(v[window].max() - v0)
    later = (t > t0 + CAR_WINDOW) | (np.arange(len(t)) == first)
    slope = nan
    if later.sum() >= 2 and t[later][-1] - t0 >= MIN_SLOPE_SPAN:
        hours = (t[later] - wake) / HOUR
        slope = float(np.polyfit(hours, v[later], 1)[0])
    return auci, increase, slope, (int(np.isfinite(auci)) + int(np.isfinite(slope))) / 2.0
