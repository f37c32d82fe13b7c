"""Nested selection, leave-one-subject-out without leakage, metrics and subject bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.models.evaluation import binary_metrics, leave_one_subject_out, per_person, subject_bootstrap
from mindbridge.models.features import person_inputs
from mindbridge.models.training import CANDIDATES, Candidate, RiskModel, fit_risk_model, inner_splits

ONE = (Candidate(0.0, 1.0),)


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


def test_fit_selects_from_the_candidates_and_calibrates() -> None:
    x, y, g = cohort()
    pair = (Candidate(0.0, 0.01), Candidate(1.0, 1.0))
    model = fit_risk_model(x, y, g, candidates=pair)
    assert model.candidate in pair
    assert model.threshold == pytest.approx(y.mean())
    p = model.predict_proba(x)
    assert np.all((p > 0) & (p < 1))
    assert abs(p.mean() - y.mean()) < 0.1
    with pytest.raises(ValueError, match="single class"):
        fit_risk_model(x, np.zeros_like(y), g)
    with pytest.raises(ValueError, match="no candidate"):
        fit_risk_model(x, y, g, candidates=())


def test_l1_candidate_drops_a_pure_noise_input() -> None:
    x, y, g = cohort(subjects=40)
    x = np.column_stack([x, np.random.default_rng(9).normal(size=(len(y), 6))])
    model = fit_risk_model(x, y, g, candidates=(Candidate(1.0, 0.02),))
    weights = model.pipeline.steps[-1][1].coef_[0]
    assert weights[0] > 0 and np.sum(weights[2:] == 0.0) >= 4
    assert {str(c) for c in CANDIDATES} >= {"L2 C=0.1", "L1 C=1", "elastic net 0.5 C=0.1"}


def test_loso_never_shows_the_test_subject_to_the_fitter() -> None:
    x, y, g = cohort(subjects=10, days=6)
    seen: list[set[str]] = []

    def fit(xt: np.ndarray, yt: np.ndarray, gt: np.ndarray) -> RiskModel:
        seen.append(set(gt))
        return fit_risk_model(xt, yt, gt, candidates=ONE)

    done: list[str] = []
    pred = leave_one_subject_out(x, y, g, fit, on_fold=done.append)
    assert sorted(done) == sorted(set(g))
    for subject, fitted_on in zip(sorted(set(g)), seen, strict=True):
        assert subject not in fitted_on and len(fitted_on) == 9
    assert pred.p.shape == y.shape and pred.sets.shape == (len(y), 2)
    assert binary_metrics(y, pred.p, pred.threshold)["auroc"] > 0.7


def test_folds_in_worker_processes_give_the_same_predictions() -> None:
    x, y, g = cohort(subjects=8, days=5)

    def fit(xt: np.ndarray, yt: np.ndarray, gt: np.ndarray) -> RiskModel:
        return fit_risk_model(xt, yt, gt, candidates=CANDIDATES[:2])

    done: list[str] = []
    serial, parallel = leave_one_subject_out(x, y, g, fit), leave_one_subject_out(x, y, g, fit, done.append, jobs=2)
    assert done == sorted(set(g))  # reported in order as the folds finish
    for a, b in ((serial.p, parallel.p), (serial.threshold, parallel.threshold), (serial.sets, parallel.sets)):
        np.testing.assert_array_equal(a, b)
    assert serial.chosen == parallel.chosen


def test_per_person_means_and_bootstrap_interval_brackets_the_estimate() -> None:
    x, y, g = cohort(subjects=12)
    pred = leave_one_subject_out(x, y, g, lambda a, b, c: fit_risk_model(a, b, c, candidates=ONE))
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


def test_test_subjects_labels_never_reach_their_own_prediction() -> None:
    """Leakage guard for the whole nested step (selection among every candidate, calibration, threshold)."""
    x, y, g = cohort(subjects=12, days=5, seed=4)
    fit = lambda a, b, c: fit_risk_model(a, b, c, candidates=CANDIDATES[::3])  # noqa: E731
    before = leave_one_subject_out(x, y, g, fit)
    flipped = np.where(g == "s3", 1 - y, y)
    after = leave_one_subject_out(x, flipped, g, fit)
    s3 = g == "s3"
    np.testing.assert_array_equal(after.p[s3], before.p[s3])
    assert not np.allclose(after.p[~s3], before.p[~s3])  # the flip did reach every other fold
    subjects, xp = person_inputs(x, g)
    yp = y[np.unique(g, return_index=True)[1]]
    person_before = leave_one_subject_out(xp, yp, subjects, fit)
    person_after = leave_one_subject_out(xp, np.where(subjects == "s3", 1 - yp, yp), subjects, fit)
    assert person_after.p[subjects == "s3"] == person_before.p[subjects == "s3"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 11), min_size=30, max_size=80), st.integers(2, 6))
def test_inner_folds_never_split_a_subject(members: list[int], folds: int) -> None:
    groups = np.array([f"s{m}" for m in members])
    y = np.array([m % 2 for m in members])
    if len(np.unique(y)) < 2 or len(np.unique(groups)) < 2:
        return
    splits = inner_splits(y, groups, folds)
    covered = np.concatenate([test for _, test in splits])
    assert sorted(covered) == list(range(len(y)))
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])


def test_person_inputs_known_answer() -> None:
    x = np.array([[1.0, 5.0], [3.0, np.nan], [2.0, 7.0], [10.0, 1.0]])
    subjects, out = person_inputs(x, np.array(["b", "b", "b", "a"]))
    assert subjects.tolist() == ["a", "b"]
    np.testing.assert_allclose(out[1], [2.0, 6.0, 1.0, np.sqrt(2.0)])
    assert out[0, :2].tolist() == [10.0, 1.0] and np.isnan(out[0, 2:]).all()  # one day: no sd


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_a_persons_inputs_depend_on_its_own_days_only(seed: int) -> None:
    x, _, g = cohort(subjects=6, days=4, seed=seed)
    subjects, before = person_inputs(x, g)
    changed = x.copy()
    changed[g != "s2"] *= 3.0
    _, after = person_inputs(changed, g)
    k = subjects.tolist().index("s2")
    np.testing.assert_array_equal(after[k], before[k])
