"""Split-conformal prediction sets for a binary risk (Vovk, Gammerman & Shafer 2005; Lei et al. 2018).

Non-conformity of a labelled example is 1 − p(true label). With n calibration scores, the threshold is
their ⌈(n+1)(1−α)⌉-th smallest value; a new example's set holds every label whose non-conformity is at most
the threshold. Under exchangeability the set contains the true label with probability at least 1 − α.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConformalSets:
    """A fitted split-conformal threshold on 1 − p(label) at miscoverage `alpha`."""

    threshold: float
    alpha: float

    def predict(self, p: np.ndarray) -> np.ndarray:
        """Boolean (n, 2) array: whether label 0 and label 1 belong to each example's set."""
        p = np.asarray(p, dtype=float)
        return np.column_stack([p <= self.threshold, 1.0 - p <= self.threshold])


def fit_conformal(p_cal: np.ndarray, y_cal: np.ndarray, alpha: float = 0.1) -> ConformalSets:
    """Threshold from calibration probabilities of label 1 and their true labels."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    y = np.asarray(y_cal, dtype=int)
    scores = np.sort(1.0 - np.where(y == 1, p_cal, 1.0 - np.asarray(p_cal, dtype=float)))
    rank = math.ceil((len(scores) + 1) * (1.0 - alpha))
    threshold = 1.0 if rank > len(scores) else float(scores[rank - 1])
    return ConformalSets(threshold, alpha)


def coverage(sets: np.ndarray, y: np.ndarray) -> float:
    """Fraction of examples whose set contains the true label."""
    return float(np.mean(sets[np.arange(len(y)), np.asarray(y, dtype=int)]))


def mean_set_size(sets: np.ndarray) -> float:
    """Average number of labels per set (1 is decisive, 2 is 'cannot tell')."""
    return float(np.mean(sets.sum(axis=1)))
