"""Probability calibration: Platt scaling fitted on out-of-fold scores, folded into a logistic model.

Platt scaling maps a decision score s to sigmoid(a·s + b). When the scored model is itself logistic
(s = w·x + c), the calibrated model is again logistic with weights a·w and intercept a·c + b, so the
exported artifact stays one linear model (Platt 1999, "Probabilistic outputs for support vector machines").
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline


@dataclass(frozen=True)
class Platt:
    """Calibration map p = sigmoid(slope · score + offset)."""

    slope: float
    offset: float

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the positive class for raw decision scores."""
        return 1.0 / (1.0 + np.exp(-(self.slope * np.asarray(scores, dtype=float) + self.offset)))


def fit_platt(scores: np.ndarray, y: np.ndarray) -> Platt:
    """Fit the Platt map by unpenalised logistic regression of labels on scores.

    A map must not reverse the scores' order: when the fitted slope is not positive (scores that rank
    backwards out of fold), the map is the constant base rate instead.
    """
    if len(np.unique(y)) < 2:
        raise ValueError("Platt scaling needs both classes among the calibration labels")
    model = LogisticRegression(C=np.inf, max_iter=1000).fit(np.asarray(scores, dtype=float).reshape(-1, 1), y)
    slope = float(model.coef_[0, 0])
    if slope <= 0.0:
        rate = float(np.mean(y))
        return Platt(0.0, float(np.log(rate / (1.0 - rate))))
    return Platt(slope, float(model.intercept_[0]))


def fold_into_logistic(pipeline: Pipeline, platt: Platt) -> Pipeline:
    """A copy of a pipeline ending in LogisticRegression whose probabilities equal `platt` of its scores."""
    folded = copy.deepcopy(pipeline)
    final = folded.steps[-1][1]
    if not isinstance(final, LogisticRegression):
        raise TypeError(f"only a pipeline ending in LogisticRegression can absorb Platt scaling, got {final!r}")
    final.coef_ = final.coef_ * platt.slope
    final.intercept_ = final.intercept_ * platt.slope + platt.offset
    return folded


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin of predicted probability: mean prediction, observed positive rate, count."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=bins) / count
        rate = np.bincount(which, weights=np.asarray(y, dtype=float), minlength=bins) / count
    return mean_p, rate, count


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE: count-weighted mean |observed rate − mean prediction| over equal-width probability bins."""
    mean_p, rate, count = reliability(y, p, bins)
    used = count > 0
    return float(np.sum(count[used] * np.abs(rate[used] - mean_p[used])) / count.sum())
