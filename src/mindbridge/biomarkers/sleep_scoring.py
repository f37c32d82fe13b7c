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

Missing epochs. A missing epoch is never scored (label -1); missing neighbours contribute nothing to a
window (Cole-Kripke) or are left out of its statistics (Sadeh).

Labels are `int8` (1 sleep, 0 wake, -1 missing): a month of minutes is 43 kB. Sleep probability. A
monotone squashing of the discriminant that is 0.5 at the scorer's threshold: `1 / (1 + D)` for
Cole-Kripke's D (sleep when D < 1) and `1 / (1 + exp(-PS))` for Sadeh's PS (sleep when PS >= 0),
computed only when asked for. It orders epochs by how clearly they look like sleep; it is not
calibrated against polysomnography, and Webster rescoring can label wake an epoch whose probability
exceeds 0.5. Only numpy is imported: the on-device runtime scores without pandas or scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .epochs import activity_level

Method = Literal["cole-kripke", "sadeh"]
METHODS: tuple[Method, ...] = ("cole-kripke", "sadeh")
REFERENCE_DEVICES = frozenset({"Actiwatch AW4"})
REFERENCE_P95 = 1106.0
SLEEP, WAKE, MISSING = 1, 0, -1

COLE_KRIPKE = ("Cole RJ, Kripke DF, Gruen W, Mullaney DJ, Gillin JC (1992). Automatic sleep/wake identification "
               "from wrist activity. Sleep 15(5):461-469.")
SADEH = ("Sadeh A, Sharkey KM, Carskadon MA (1994). Activity-based sleep-wake identification: an empirical test "
         "of methodological issues. Sleep 17(3):201-207.")
WEBSTER = ("Webster JB, Kripke DF, Messin S, Mullaney DJ, Wyborney G (1982). An activity-based sleep monitor "
           "system for ambulatory use. Sleep 5(4):389-399.")

_CK_WEIGHTS = np.array([106.0, 54.0, 58.0, 76.0, 230.0, 74.0, 67.0])  # epochs t-4 ... t+2
_CK_AFTER = 2
_CK_SCALE = 0.001 / 30.0  # the weights' 0.001, and counts per minute to the mean of 2-second samples
CK_THRESHOLD = 30_000.0  # D < 1 as a bound on the weighted sum: exact for integer counts


@dataclass(frozen=True)
class Scoring:
    """Scores of every input epoch: the label now, the sleep probability on demand.

    `scored_label` holds one value per scored epoch (a minute, or a longer input epoch) and the
    scorer's discriminant is `weighted * weight` there (Cole-Kripke's sums are kept unscaled until
    asked for); `repeat` input epochs share each scored epoch, and the input had `n` epochs.
    """

    method: Method
    weighted: np.ndarray
    weight: float
    scored_label: np.ndarray
    repeat: int
    n: int

    @property
    def discriminant(self) -> np.ndarray:
        """The scorer's discriminant per scored epoch: Cole-Kripke's D or Sadeh's PS."""
        return self.weighted * self.weight

    def _per_input(self, a: np.ndarray) -> np.ndarray:
        return a if self.repeat == 1 else np.repeat(a, self.repeat)[: self.n]

    @property
    def label(self) -> np.ndarray:
        """One `int8` label per input epoch: 1 sleep, 0 wake, -1 missing."""
        return self._per_input(self.scored_label)

    @property
    def sleep(self) -> np.ndarray:
        """One float label per input epoch: 1 sleep, 0 wake, NaN missing."""
        lab = self.label
        return np.where(lab == MISSING, np.nan, lab.astype(float))

    @property
    def probability(self) -> np.ndarray:
        """Sleep probability of every input epoch (0.5 at the scorer's threshold), NaN where missing."""
        with np.errstate(over="ignore"):
            d = self.discriminant
            p = 1.0 / (1.0 + d) if self.method == "cole-kripke" else 1.0 / (1.0 + np.exp(-d))
        return self._per_input(np.where(self.scored_label == MISSING, np.nan, p))


def to_minutes(filled: np.ndarray, valid: np.ndarray, epoch_s: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Counts per minute at the scoring resolution, which of them are valid, and input epochs per scored one.

    `filled` holds the counts with 0 where `valid` is False.
    """
    x = np.asarray(filled, dtype=float)
    if epoch_s < 60:
        if 60 % epoch_s:
            raise ValueError(f"epochs shorter than a minute must divide it; got {epoch_s} s")
        k = 60 // epoch_s
        pad = -len(x) % k
        minutes = np.r_[x, np.zeros(pad)].reshape(-1, k).sum(axis=1)
        return minutes, np.r_[valid, np.zeros(pad, dtype=bool)].reshape(-1, k).all(axis=1), k
    if epoch_s % 60:
        raise ValueError(f"epochs longer than a minute must be whole minutes; got {epoch_s} s")
    return (x if epoch_s == 60 else x * (60.0 / epoch_s)), np.asarray(valid, dtype=bool), 1


def count_scale(per_minute: np.ndarray) -> float:
    """Factor that brings a recording's counts per minute to the reference device's scale."""
    level = activity_level(per_minute)
    with np.errstate(over="ignore", divide="ignore"):
        factor = REFERENCE_P95 / level if level > 0 else 1.0
    return factor if np.isfinite(factor) else 1.0


def _window_sum(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Sum of x over epochs t-before ... t+after, NaN counted as zero."""
    full = np.convolve(np.nan_to_num(x), np.ones(before + after + 1))
    return np.asarray(full[after:after + len(x)])


def cole_kripke_sums(per_minute: np.ndarray) -> np.ndarray:
    """Cole-Kripke's weighted sum of counts per minute over minutes t-4 ... t+2 (zero-filled input)."""
    full = np.correlate(np.asarray(per_minute, dtype=float), _CK_WEIGHTS, mode="full")
    return np.asarray(full[_CK_AFTER:_CK_AFTER + len(per_minute)])


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


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run values and lengths of an int8 label array."""
    starts = np.concatenate(([0], (labels[1:] != labels[:-1]).nonzero()[0] + 1))
    bounds = np.concatenate((starts, [len(labels)]))
    return labels[starts], bounds[1:] - bounds[:-1]


def _merge(values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs with empty ones dropped and neighbours of equal value joined."""
    keep = lengths > 0
    values, lengths = values[keep], lengths[keep]
    new = np.concatenate(([True], values[1:] != values[:-1])).nonzero()[0]
    return values[new], np.add.reduceat(lengths, new)


def webster(labels: np.ndarray, epoch_minutes: float = 1.0) -> np.ndarray:
    """Webster's rescoring of `int8` labels (1 sleep, 0 wake, -1 missing), worked on runs, not epochs.

    (a-c) after at least 4, 10 or 15 min of wake, the first 1, 3 or 4 min of sleep become wake;
    (d, e) then sleep bouts of at most 6 (10) min between wake bouts of at least 10 (20) min become wake.
    Missing epochs break bouts and never count as wake.
    """
    lab = np.asarray(labels, dtype=np.int8)
    if len(lab) == 0:
        return lab.copy()
    per_minute = 1.0 / epoch_minutes  # rules in minutes, runs in epochs
    values, lengths = _runs(lab)
    wake_before = np.zeros(lengths.shape, lengths.dtype)
    wake_before[1:] = np.where(values[:-1] == WAKE, lengths[:-1], 0)
    rule = (np.array([4.0, 10.0, 15.0]) * per_minute).searchsorted(wake_before, side="right")
    head = np.ceil(np.array([0.0, 1.0, 3.0, 4.0]) * per_minute).astype(np.int64)[rule]
    cut = np.minimum(head, lengths) * (values == SLEEP)
    lengths = lengths - cut
    lengths[:-1] += cut[1:]  # the cut head joins the wake run before it
    values, lengths = _merge(values, lengths)
    wake = np.where(values == WAKE, lengths, 0)
    around = np.zeros(wake.shape, wake.dtype)  # the shorter of the wake runs on either side (0 at the ends)
    np.minimum(wake[:-2], wake[2:], out=around[1:-1])
    short = (values == SLEEP) & (((lengths <= 6 * per_minute) & (around >= 10 * per_minute))
                                 | ((lengths <= 10 * per_minute) & (around >= 20 * per_minute)))
    values[short] = WAKE
    return np.repeat(values, lengths)


def score(counts: np.ndarray, epoch_s: int, method: Method = "cole-kripke", scale: float | None = None,
          rescore: bool = True) -> Scoring:
    """Score every input epoch (NaN where missing); `scale=None` infers the device scale from the counts."""
    x = np.asarray(counts, dtype=float)
    valid = ~np.isnan(x)
    return score_epochs(np.where(valid, x, 0.0), valid, epoch_s, method, scale, rescore)


def score_epochs(filled: np.ndarray, valid: np.ndarray, epoch_s: int, method: Method = "cole-kripke",
                 scale: float | None = None, rescore: bool = True) -> Scoring:
    """Score epochs given as counts with 0 where missing and a validity mask (an epoch grid's own layout)."""
    if method not in METHODS:
        raise ValueError(f"unknown scoring method {method!r}; choose one of {', '.join(METHODS)}")
    x, ok, k = to_minutes(np.asarray(filled).ravel(), np.asarray(valid).ravel(), epoch_s)
    factor = count_scale(x) if scale is None else scale
    if method == "cole-kripke":
        weighted, weight = cole_kripke_sums(x), _CK_SCALE * factor
        asleep = weighted < CK_THRESHOLD / factor
    else:
        weighted, weight = sadeh(np.where(ok, x * factor, np.nan)), 1.0
        asleep = weighted >= 0
    label = np.subtract(asleep & ok, ~ok, dtype=np.int8)  # 1 sleep, 0 wake, -1 missing
    if rescore:
        label = webster(label, max(epoch_s, 60) / 60.0)
    return Scoring(method, weighted, weight, label, k, int(np.size(filled)))
