"""The risk estimator: regularised logistic regression with its strength chosen, calibrated and given a
conformal threshold, all from grouped (subject-disjoint) cross-validation inside the training data only.

The strength is chosen by pooled out-of-fold AUROC (ties to the stronger penalty); the decision threshold is
the training prevalence, which maximises expected balanced accuracy for calibrated probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .calibration import Platt, fit_platt, fold_into_logistic
from .conformal import ConformalSets, fit_conformal

C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


def logistic_pipeline(c: float) -> Pipeline:
    """Median imputation, standardisation and L2-regularised logistic regression of strength 1/c."""
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("scale", StandardScaler()),
                     ("logistic", LogisticRegression(C=c, max_iter=2000))])


@dataclass(frozen=True)
class RiskModel:
    """A calibrated logistic pipeline with the selection and conformal facts that came with it."""

    pipeline: Pipeline
    c: float
    inner_auroc: float
    threshold: float
    platt: Platt
    conformal: ConformalSets

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class per row."""
        return np.asarray(self.pipeline.predict_proba(x)[:, 1])


def out_of_fold_scores(x: np.ndarray, y: np.ndarray, groups: np.ndarray, c: float, folds: int) -> np.ndarray:
    """Decision scores of each row from a model fitted without its group (grouped k-fold)."""
    scores = np.empty(len(y))
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        scores[test] = logistic_pipeline(c).fit(x[train], y[train]).decision_function(x[test])
    return scores


def fit_risk_model(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, grid: Sequence[float] = C_GRID,
                   folds: int = 5, alpha: float = 0.1) -> RiskModel:
    """Choose C by grouped CV AUROC, Platt-calibrate its out-of-fold scores, refit on all rows, fold it in.

    Everything (selection, calibration map, conformal threshold) is learnt from `x` alone, so when `x` is
    an outer training fold nothing of the outer test subjects is seen.
    """
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError("training data hold a single class")
    if not grid:
        raise ValueError("the grid of regularisation strengths is empty")
    folds = min(folds, len(np.unique(groups)))
    best: tuple[float, float, np.ndarray] | None = None
    for c in sorted(grid):
        scores = out_of_fold_scores(x, y, groups, c, folds)
        auroc = float(roc_auc_score(y, scores))
        if best is None or auroc > best[0] + 1e-9:
            best = (auroc, c, scores)
    assert best is not None
    auroc, c, scores = best
    platt = fit_platt(scores, y)
    pipeline = fold_into_logistic(logistic_pipeline(c).fit(x, y), platt)
    return RiskModel(pipeline, c, auroc, float(y.mean()), platt, fit_conformal(platt(scores), y, alpha))
