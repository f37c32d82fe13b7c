"""Nested selection, leave-one-subject-out without leakage, metrics and subject bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from mindbridge.models.evaluation import binary_metrics, leave_one_subject_out, per_person, subject_bootstrap
from mindbridge.models.training import RiskModel, fit_risk_model


def cohort(subjects: int = 24, days: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic subjects: half positive, features shifted by the label plus a per-subject offset."""
    rng = np.random.default_rng(seed)
    label = np.repeat(np.arange(subjects) % 2, days)
    groups = np.repeat([f"s{i}" for i in range(subjects)], days)
    offset = np.repeat(rng.normal(0, 0.5, subjects), days)
    x = np.column_stack([label * 2.5 + offset + rng.normal(0, 1, len(label)), rng.normal(size=len(label))])
    x[rng.random(x.shape) < 0.05] = np.nan
    return x, label, groups


def test_metrics_known_answers() -> None:
    y = np.array([0, 0, 1, 1])
    m = binary_metrics(y, np.array([0.1, 0.6, 0.4, 0.9]))
    assert m["accuracy"] == 0.5 and m["balanced_accuracy"] == 0.5 and m["mcc"] == 0.0
    assert m["auroc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    perfect = binary_metrics(y, np.array([0.0, 0.2, 0.8, 1.0]))
    assert perfect["mcc"] == 1.0 and perfect["auroc"] == 1.0 and perfect["f1_weighted"] == 1.0
    assert binary_metrics(y, np.array([0.1, 0.6, 0.4, 0.9]), threshold=0.35)["accuracy"] == 0.75


def test_fit_selects_from_the_grid_and_calibrates() -> None:
    x, y, g = cohort()
    model = fit_risk_model(x, y, g, grid=(0.01, 1.0))
    assert model.c in (0.01, 1.0)
    assert model.threshold == pytest.approx(y.mean())
    p = model.predict_proba(x)
    assert np.all((p > 0) & (p < 1))
    assert abs(p.mean() - y.mean()) < 0.1
    with pytest.raises(ValueError, match="single class"):
        fit_risk_model(x, np.zeros_like(y), g)


def test_loso_never_shows_the_test_subject_to_the_fitter() -> None:
    x, y, g = cohort(subjects=10, days=6)
    seen: list[set[str]] = []

    def fit(xt: np.ndarray, yt: np.ndarray, gt: np.ndarray) -> RiskModel:
        seen.append(set(gt))
        return fit_risk_model(xt, yt, gt, grid=(1.0,))

    done: list[str] = []
    pred = leave_one_subject_out(x, y, g, fit, on_fold=done.append)
    assert sorted(done) == sorted(set(g))
    for subject, fitted_on in zip(sorted(set(g)), seen, strict=True):
        assert subject not in fitted_on and len(fitted_on) == 9
    assert pred.p.shape == y.shape and pred.sets.shape == (len(y), 2)
    assert binary_metrics(y, pred.p, pred.threshold)["auroc"] > 0.7


def test_per_person_means_and_bootstrap_interval_brackets_the_estimate() -> None:
    x, y, g = cohort(subjects=12)
    pred = leave_one_subject_out(x, y, g, lambda a, b, c: fit_risk_model(a, b, c, grid=(1.0,)))
    persons = per_person(pred, y, g)
    assert len(persons) == 12 and persons["days"].eq(10).all()
    assert persons.set_index("subject").loc["s3", "p"] == pytest.approx(pred.p[g == "s3"].mean())
    point = binary_metrics(y, pred.p, pred.threshold)
    intervals = subject_bootstrap(y, pred.p, g, pred.threshold, n_boot=200)
    for name in ("auroc", "balanced_accuracy", "brier"):
        low, high = intervals[name]
        assert low <= point[name] <= high and low < high


def test_numpy_metrics_agree_with_scikit_learn() -> None:
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        f1_score,
        matthews_corrcoef,
        roc_auc_score,
    )

    rng = np.random.default_rng(5)
    y = (rng.random(300) < 0.4).astype(int)
    p = np.round(np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1), 2)  # rounded: many ties
    m = binary_metrics(y, p, 0.45)
    hard = (p >= 0.45).astype(int)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert m["auprc"] == pytest.approx(average_precision_score(y, p))
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y, hard))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, hard))
    assert m["f1_weighted"] == pytest.approx(f1_score(y, hard, average="weighted"))
