"""Sleep/wake scoring of activity epochs: Cole-Kripke (1992), Sadeh (1994) and Webster rescoring.

Epoch length. Both scorers were derived on 1-minute epochs. Shorter epochs (which must divide a minute,
e.g. 30 s) are summed into whole minutes, scored, and every input epoch takes its minute's score (a
minute with a missing sub-epoch is missing). Longer epochs (whole minutes, e.g. 2 min) are converted to
counts per minute and scored epoch by epoch, the scorer's window taps then spanning whole epochs: an
approximation, documented rather than hidden. Webster's rules, stated in minutes, are converted to epochs.

Device scaling. Count scales differ between devices by orders of magnitude, and both scorers have fixed
weights. Counts per minute are first brought to the reference device's scale, an Actiwatch AW4 as in
Depresjon: `scale = REFERENCE_P95 / p95`, where `p95` is the recording's 95th percentile of non-zero
per-minute counts and `REFERENCE_P95` the median of that statistic over the 55 Depresjon recordings.
Labels are therefore invariant to multiplying a recording's counts by any constant. The reference
device itself is used unscaled (scale 1), so its between-person differences survive. Cole-Kripke's
1-minute weights apply to the mean count of the minute's 2-second samples, so reference counts are
divided by 30 before weighting; Sadeh's terms take reference counts per minute directly.

Missing epochs. A missing epoch is never scored (NaN); missing neighbours contribute nothing to a
window (Cole-Kripke) or are left out of its statistics (Sadeh).

Sleep probability. A monotone squashing of the discriminant that is 0.5 at the scorer's threshold:
`1 / (1 + D)` for Cole-Kripke's D (sleep when D < 1) and `1 / (1 + exp(-PS))` for Sadeh's PS (sleep
when PS >= 0). It orders epochs by how clearly they look like sleep; it is not calibrated against
polysomnography, and Webster rescoring can label wake an epoch whose probability exceeds 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["cole-kripke", "sadeh"]
METHODS: tuple[Method, ...] = ("cole-kripke", "sadeh")
REFERENCE_DEVICES = frozenset({"Actiwatch AW4"})
REFERENCE_P95 = 1106.0

COLE_KRIPKE = ("Cole RJ, Kripke DF, Gruen W, Mullaney DJ, Gillin JC (1992). Automatic sleep/wake identification "
               "from wrist activity. Sleep 15(5):461-469.")
SADEH = ("Sadeh A, Sharkey KM, Carskadon MA (1994). Activity-based sleep-wake identification: an empirical test "
         "of methodological issues. Sleep 17(3):201-207.")
WEBSTER = ("Webster JB, Kripke DF, Messin S, Mullaney DJ, Wyborney G (1982). An activity-based sleep monitor "
           "system for ambulatory use. Sleep 5(4):389-399.")

_CK_WEIGHTS = np.array([106.0, 54.0, 58.0, 76.0, 230.0, 74.0, 67.0])  # epochs t-4 ... t+2
_CK_BEFORE = 4


@dataclass(frozen=True)
class Scoring:
    """One value per input epoch: sleep probability and label (1 sleep, 0 wake, NaN missing)."""

    probability: np.ndarray
    sleep: np.ndarray


def to_minutes(counts: np.ndarray, epoch_s: int) -> tuple[np.ndarray, int]:
    """Counts per minute at the scoring resolution, and how many input epochs make one scored epoch."""
    x = np.asarray(counts, dtype=float)
    if epoch_s < 60:
        if 60 % epoch_s:
            raise ValueError(f"epochs shorter than a minute must divide it; got {epoch_s} s")
        k = 60 // epoch_s
        padded = np.r_[x, np.full(-len(x) % k, np.nan)]
        return padded.reshape(-1, k).sum(axis=1), k
    if epoch_s % 60:
        raise ValueError(f"epochs longer than a minute must be whole minutes; got {epoch_s} s")
    return x * 60.0 / epoch_s, 1


def count_scale(per_minute: np.ndarray) -> float:
    """Factor that brings a recording's counts per minute to the reference device's scale."""
    x = np.asarray(per_minute, dtype=float)
    nonzero = x[x > 0]
    with np.errstate(over="ignore", divide="ignore"):
        factor = float(REFERENCE_P95 / np.percentile(nonzero, 95)) if len(nonzero) else 1.0
    return factor if np.isfinite(factor) else 1.0


def _window_sum(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Sum of x over epochs t-before ... t+after, NaN counted as zero."""
    padded = np.r_[np.zeros(before), np.nan_to_num(x), np.zeros(after)]
    c = np.r_[0.0, np.cumsum(padded)]
    width = before + after + 1
    return np.asarray(c[width:] - c[:-width])


def cole_kripke(reference_per_minute: np.ndarray) -> np.ndarray:
    """Cole-Kripke's discriminant D per minute (sleep when D < 1), from reference-scale counts per minute."""
    x = np.asarray(reference_per_minute, dtype=float) / 30.0
    padded = np.r_[np.zeros(_CK_BEFORE), np.nan_to_num(x), np.zeros(len(_CK_WEIGHTS) - _CK_BEFORE - 1)]
    d = 0.001 * np.correlate(padded, _CK_WEIGHTS, mode="valid")
    return np.where(np.isnan(x), np.nan, d)


def sadeh(reference_per_minute: np.ndarray) -> np.ndarray:
    """Sadeh's discriminant PS per minute (sleep when PS >= 0), from reference-scale counts per minute."""
    x = np.asarray(reference_per_minute, dtype=float)
    ok = (~np.isnan(x)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_w5 = _window_sum(x, 5, 5) / _window_sum(ok, 5, 5)
        nat = _window_sum(((x >= 50) & (x < 100)).astype(float), 5, 5)
        n6, s6, q6 = _window_sum(ok, 5, 0), _window_sum(x, 5, 0), _window_sum(x * x, 5, 0)
        sd6 = np.sqrt(np.maximum(q6 - s6 * s6 / n6, 0.0) / (n6 - 1))
    sd6 = np.where(n6 > 1, sd6, 0.0)
    ps = 7.601 - 0.065 * mean_w5 - 1.08 * nat - 0.056 * sd6 - 0.703 * np.log1p(x)
    return np.where(np.isnan(x), np.nan, ps)


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run starts, lengths and values of an int8 label array."""
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.r_[0, change]
    lengths = np.diff(np.r_[starts, len(labels)])
    return starts, lengths, labels[starts]


def _paint(n: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Boolean mask covering [start, start + length) for each pair."""
    marks = np.bincount(starts, minlength=n + 1) - np.bincount(starts + lengths, minlength=n + 1)
    return np.cumsum(marks[:-1]) > 0


def webster(sleep: np.ndarray, epoch_minutes: float = 1.0) -> np.ndarray:
    """Webster's rescoring of a sleep (1) / wake (0) / missing (NaN) sequence.

    (a-c) after at least 4, 10 or 15 min of wake, the first 1, 3 or 4 min of sleep become wake;
    (d, e) then sleep bouts of at most 6 (10) min between wake bouts of at least 10 (20) min become wake.
    Missing epochs break bouts and never count as wake.
    """
    s = np.asarray(sleep, dtype=float)
    if len(s) == 0:
        return s.copy()
    lab = np.where(np.isnan(s), -1, s).astype(np.int8)
    starts, lengths, values = _runs(lab)
    minutes = lengths * epoch_minutes
    prev_wake = np.r_[0.0, np.where(values[:-1] == 0, minutes[:-1], 0.0)]
    cut_min = np.select([prev_wake >= 15, prev_wake >= 10, prev_wake >= 4], [4.0, 3.0, 1.0], 0.0)
    cut = np.minimum(np.ceil(cut_min / epoch_minutes).astype(np.int64), lengths)
    head = (values == 1) & (cut > 0)
    lab[_paint(len(lab), starts[head], cut[head])] = 0
    starts, lengths, values = _runs(lab)
    minutes = lengths * epoch_minutes
    wake_min = np.where(values == 0, minutes, 0.0)
    before, after = np.r_[0.0, wake_min[:-1]], np.r_[wake_min[1:], 0.0]
    around = np.minimum(before, after)
    short = (values == 1) & (((minutes <= 6) & (around >= 10)) | ((minutes <= 10) & (around >= 20)))
    lab[_paint(len(lab), starts[short], lengths[short])] = 0
    return np.where(lab < 0, np.nan, lab.astype(float))


def score(counts: np.ndarray, epoch_s: int, method: Method = "cole-kripke", scale: float | None = None,
          rescore: bool = True) -> Scoring:
    """Score every input epoch as sleep or wake; `scale=None` infers the device scale from the counts."""
    if method not in METHODS:
        raise ValueError(f"unknown scoring method {method!r}; choose one of {', '.join(METHODS)}")
    x, k = to_minutes(counts, epoch_s)
    factor = count_scale(x) if scale is None else scale
    reference = x * factor
    with np.errstate(over="ignore"):
        if method == "cole-kripke":
            d = cole_kripke(reference)
            prob, sleep = 1.0 / (1.0 + d), np.where(np.isnan(d), np.nan, (d < 1).astype(float))
        else:
            ps = sadeh(reference)
            prob, sleep = 1.0 / (1.0 + np.exp(-ps)), np.where(np.isnan(ps), np.nan, (ps >= 0).astype(float))
    if rescore:
        sleep = webster(sleep, max(epoch_s, 60) / 60.0)
    n = len(np.asarray(counts))
    return Scoring(np.repeat(prob, k)[:n], np.repeat(sleep, k)[:n])
