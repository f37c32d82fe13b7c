"""Platt scaling, its folding into a logistic pipeline, reliability and ECE, split-conformal sets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.models.calibration import Platt, expected_calibration_error, fit_platt, fold_into_logistic, reliability
from mindbridge.models.conformal import coverage, fit_conformal, mean_set_size
from mindbridge.models.training import logistic_pipeline


def test_platt_recovers_the_generating_map() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(0, 2, 40_000)
    y = rng.random(len(scores)) < Platt(0.7, -0.4)(scores)
    fitted = fit_platt(scores, y.astype(int))
    assert fitted.slope == pytest.approx(0.7, abs=0.03)
    assert fitted.offset == pytest.approx(-0.4, abs=0.04)


def test_platt_never_reverses_the_order_of_scores() -> None:
    scores = np.arange(10.0)
    y = (scores < 3).astype(int)
    fitted = fit_platt(scores, y)
    assert fitted.slope == 0.0
    np.testing.assert_allclose(fitted(scores), 0.3)


def test_platt_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        fit_platt(np.arange(5.0), np.zeros(5, dtype=int))


def test_folded_pipeline_equals_platt_of_its_scores() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    pipe = logistic_pipeline(1.0).fit(x, y)
    platt = Platt(0.5, 0.3)
    folded = fold_into_logistic(pipe, platt)
    np.testing.assert_allclose(folded.predict_proba(x)[:, 1], platt(pipe.decision_function(x)), atol=1e-12)
    assert not np.allclose(pipe.predict_proba(x)[:, 1], folded.predict_proba(x)[:, 1])


def test_ece_is_zero_when_bins_match_their_rates_and_large_when_not() -> None:
    p = np.repeat([0.25, 0.75], 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    assert expected_calibration_error(1 - y, p) == pytest.approx(0.5)
    mean_p, rate, count = reliability(y, p)
    assert count.sum() == 8 and np.nansum(rate * count) == y.sum()
    assert np.nanmax(mean_p) == pytest.approx(0.75)


def test_conformal_threshold_is_the_finite_sample_quantile() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    y = np.ones(5, dtype=int)
    # scores 0.1..0.9 sorted; rank ceil(6 * 0.8) = 5 → the largest score
    assert fit_conformal(p, y, alpha=0.2).threshold == pytest.approx(0.9)
    assert fit_conformal(p, y, alpha=0.5).threshold == pytest.approx(0.3)  # rank 3
    with pytest.raises(ValueError, match="alpha"):
        fit_conformal(p, y, alpha=0.0)


@settings(max_examples=25, deadline=None)
@given(alpha=st.sampled_from([0.05, 0.1, 0.2]), seed=st.integers(0, 10_000))
def test_conformal_sets_cover_exchangeable_data(alpha: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random(4000)
    y = (rng.random(4000) < p).astype(int)
    sets = fit_conformal(p[:2000], y[:2000], alpha).predict(p[2000:])
    # coverage varies with both the calibration draw and the test draw, each with sd sqrt(α(1 − α)/2000)
    assert coverage(sets, y[2000:]) >= 1 - alpha - 4.5 * np.sqrt(2 * alpha * (1 - alpha) / 2000)
    assert 1.0 <= mean_set_size(sets) <= 2.0
