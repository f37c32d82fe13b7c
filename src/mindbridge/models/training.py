"""The risk estimator: regularised logistic regression with its penalty family (L2, L1 or elastic net) and
strength chosen, calibrated and given a conformal threshold, all from grouped (subject-disjoint)
cross-validation inside the training data only.

The L1 and elastic-net candidates are the feature selection: they drop inputs by zero weights, and whether
to use them is itself chosen inside the training data. The candidate is chosen by pooled out-of-fold AUROC
(ties go to the earlier, more strongly penalised candidate); the decision threshold is the training
prevalence, which maximises expected balanced accuracy for calibrated probabilities. Every candidate is one
linear model, so the chosen one exports to the same artifact. A caller may also offer *views* (sets of input
columns, such as a day's inputs with or without their trailing context); the view is then chosen together
with the candidate, by the same inner cross-validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .calibration import Platt, fit_platt, fold_into_logistic
from .conformal import ConformalSets, fit_conformal

ALL = "all inputs"


def logistic_pipeline(c: float, l1_ratio: float = 0.0) -> Pipeline:
    """Median imputation, standardisation and logistic regression of strength 1/c (l1_ratio 0 = L2, 1 = L1)."""
    solver = {0.0: "lbfgs", 1.0: "liblinear"}.get(l1_ratio, "saga")
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("scale", StandardScaler()),
                     ("logistic", LogisticRegression(C=c, l1_ratio=l1_ratio, solver=solver, max_iter=5000,
                                                     random_state=0))])


@dataclass(frozen=True, order=True)
class Candidate:
    """One model the inner cross-validation may choose: penalty mix (0 = L2, 1 = L1) and strength 1/c."""

    l1_ratio: float
    c: float

    def pipeline(self) -> Pipeline:
        """An unfitted pipeline of this candidate."""
        return logistic_pipeline(self.c, self.l1_ratio)

    def __str__(self) -> str:
        kind = {0.0: "L2", 1.0: "L1"}.get(self.l1_ratio, f"elastic net {self.l1_ratio:g}")
        return f"{kind} C={self.c:g}"


CANDIDATES: tuple[Candidate, ...] = (*(Candidate(0.0, c) for c in (0.01, 0.03, 0.1, 0.3, 1.0)),
                                     *(Candidate(0.5, c) for c in (0.03, 0.1)),
                                     *(Candidate(1.0, c) for c in (0.1, 0.3, 1.0)))


@dataclass(frozen=True)
class RiskModel:
    """A calibrated logistic pipeline over some columns of the input (its view), with the selection and conformal
    facts that came with it."""

    pipeline: Pipeline
    candidate: Candidate
    inner_auroc: float
    threshold: float
    platt: Platt
    conformal: ConformalSets
    view: str = ALL
    columns: np.ndarray | None = None  # the input columns the pipeline reads, in order (None: all)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class per row of the whole input."""
        return np.asarray(self.pipeline.predict_proba(x if self.columns is None else x[:, self.columns])[:, 1])

    @property
    def chosen(self) -> str:
        """The candidate and, when there was a choice of inputs, the view."""
        return str(self.candidate) if self.view == ALL else f"{self.candidate}, {self.view}"


def inner_splits(y: np.ndarray, groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped, class-stratified k-fold splits (a group never straddles two folds), fixed by a seed."""
    folds = min(folds, len(np.unique(groups)))
    split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0).split(y, y, groups)
    return [(train, test) for train, test in split]


def out_of_fold_scores(x: np.ndarray, y: np.ndarray, candidate: Candidate,
                       splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Decision scores of each row from a model fitted without its fold's groups."""
    scores = np.empty(len(y))
    for train, test in splits:
        scores[test] = candidate.pipeline().fit(x[train], y[train]).decision_function(x[test])
    return scores


def fit_risk_model(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *,
                   candidates: Sequence[Candidate] = CANDIDATES, folds: int = 5, alpha: float = 0.1,
                   views: Mapping[str, np.ndarray] | None = None) -> RiskModel:
    """Choose a view (a set of input columns) and a candidate by grouped CV AUROC, Platt-calibrate the chosen
    one's out-of-fold scores, refit it on all rows.

    Views are tried in order and candidates within each; ties go to the earlier pair. Everything (selection,
    calibration map, conformal threshold) is learnt from `x` alone, so when `x` is an outer training fold
    nothing of the outer test subjects is seen.
    """
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError("training data hold a single class")
    if not candidates:
        raise ValueError("no candidate models to choose from")
    splits = inner_splits(y, np.asarray(groups), folds)
    best: tuple[float, str, np.ndarray | None, Candidate, np.ndarray] | None = None
    choices: list[tuple[str, np.ndarray | None]] = list(views.items()) if views else [(ALL, None)]
    for view, columns in choices:
        seen = x if columns is None else x[:, columns]
        for candidate in candidates:
            scores = out_of_fold_scores(seen, y, candidate, splits)
            auroc = float(roc_auc_score(y, scores))
            if best is None or auroc > best[0] + 1e-9:
                best = (auroc, view, columns, candidate, scores)
    assert best is not None
    auroc, view, columns, chosen, scores = best
    platt = fit_platt(scores, y)
    pipeline = fold_into_logistic(chosen.pipeline().fit(x if columns is None else x[:, columns], y), platt)
    return RiskModel(pipeline, chosen, auroc, float(y.mean()), platt, fit_conformal(platt(scores), y, alpha),
                     view, columns)
