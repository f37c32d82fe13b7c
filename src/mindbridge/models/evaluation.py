"""Subject-disjoint evaluation: leave-one-subject-out predictions, metrics, and bootstrap intervals over
subjects (resampling subjects, not rows, because a subject's days are not independent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from .calibration import expected_calibration_error
from .training import RiskModel

METRICS = ("balanced_accuracy", "accuracy", "mcc", "f1_weighted", "auroc", "auprc", "brier", "ece")


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic (ties count one half)."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return float("nan")
    return float((rankdata(p)[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (step-wise, tied scores grouped)."""
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    last = np.r_[ps[1:] != ps[:-1], True]
    tp = np.cumsum(ys)[last]
    seen = np.flatnonzero(last) + 1
    if not tp[-1]:
        return float("nan")
    recall_gain = np.diff(np.r_[0, tp]) / tp[-1]
    return float(np.sum(recall_gain * tp / seen))


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float | np.ndarray = 0.5) -> dict[str, float]:
    """Every reported metric of probabilities `p` against labels `y` (decision at `threshold`, per row or one)."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    hard = p >= threshold
    # numpy floats, so an empty class gives NaN (a bootstrap draw of subjects can hold one class only)
    tp, fn = np.float64(np.sum(hard & (y == 1))), np.float64(np.sum(~hard & (y == 1)))
    fp, tn = np.float64(np.sum(hard & (y == 0))), np.float64(np.sum(~hard & (y == 0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        recalls = [tp / (tp + fn), tn / (tn + fp)]
        f1 = [2 * tp / (2 * tp + fp + fn), 2 * tn / (2 * tn + fn + fp)]
        denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    support = np.array([tp + fn, tn + fp])
    return {
        "balanced_accuracy": float(np.nanmean(recalls)),
        "accuracy": float((tp + tn) / len(y)),
        "mcc": float((tp * tn - fp * fn) / denominator) if denominator > 0 else 0.0,
        "f1_weighted": float(np.sum(np.nan_to_num(f1) * support) / support.sum()),
        "auroc": auroc(y, p),
        "auprc": average_precision(y, p),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }


def subject_bootstrap(y: np.ndarray, p: np.ndarray, groups: np.ndarray, threshold: np.ndarray, *, n_boot: int = 500,
                      level: float = 0.95, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every metric, resampling whole subjects with replacement."""
    subjects, index = np.unique(groups, return_inverse=True)
    rows_of = [np.flatnonzero(index == k) for k in range(len(subjects))]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(n_boot):
        rows = np.concatenate([rows_of[k] for k in rng.integers(0, len(subjects), len(subjects))])
        for name, value in binary_metrics(y[rows], p[rows], threshold[rows]).items():
            draws[name].append(value)
    tail = (1.0 - level) / 2.0
    return {m: (float(np.nanquantile(v, tail)), float(np.nanquantile(v, 1.0 - tail))) for m, v in draws.items()}


@dataclass(frozen=True)
class Predictions:
    """Out-of-fold probabilities, decision thresholds and conformal sets, one per row, subject-disjoint."""

    p: np.ndarray
    threshold: np.ndarray
    sets: np.ndarray
    chosen: dict[str, str]


Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray], RiskModel]


def leave_one_subject_out(x: np.ndarray, y: np.ndarray, groups: np.ndarray, fit: Fitter,
                          on_fold: Callable[[str], None] | None = None, jobs: int = 1) -> Predictions:
    """Fit on all subjects but one, predict that one, for every subject; `fit` sees training rows only.

    With `jobs` > 1 the folds run in that many worker processes (joblib), with the same results as in one.
    BLAS runs single-threaded in each fold: the matrices are tiny and threads only contend on a busy machine.
    """
    subjects = np.unique(groups)
    if jobs > 1:
        from joblib import Parallel, delayed

        folds = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_fold)(x, y, groups, subject, fit) for subject in subjects)
    else:
        folds = (_fold(x, y, groups, subject, fit) for subject in subjects)
    p, threshold, chosen = np.empty(len(y)), np.empty(len(y)), {}
    sets = np.zeros((len(y), 2), dtype=bool)
    for subject, (p_fold, threshold_fold, sets_fold, chosen_fold) in zip(subjects, folds, strict=True):
        test = groups == subject
        p[test], threshold[test], sets[test], chosen[str(subject)] = p_fold, threshold_fold, sets_fold, chosen_fold
        if on_fold is not None:
            on_fold(str(subject))
    return Predictions(p, threshold, sets, chosen)


def _fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, subject: object,
          fit: Fitter) -> tuple[np.ndarray, float, np.ndarray, str]:
    """One fold: fit without `subject`, then its probabilities, threshold, conformal sets and the choice made."""
    test = groups == subject
    with threadpool_limits(limits=1):
        model = fit(x[~test], y[~test], groups[~test])
    p = model.predict_proba(x[test])
    return p, model.threshold, model.conformal.predict(p), model.chosen


def per_person(pred: Predictions, y: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """One row per subject: mean of its days' probabilities, its fold's threshold, its label, its day count."""
    frame = pd.DataFrame({"subject": groups, "p": pred.p, "threshold": pred.threshold, "y": y})
    return frame.groupby("subject").agg(p=("p", "mean"), threshold=("threshold", "first"), y=("y", "first"),
                                        days=("p", "size")).reset_index()

