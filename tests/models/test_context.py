"""Trailing-day context: names, known answers, causality, calendar windows, and the view chosen in training."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.rowstats import nan_mean_sd
from mindbridge.models.context import ContextPlan, complete_days, context_names, parse_name, with_context
from mindbridge.models.training import Candidate, fit_risk_model

DAY0 = dt.date(2024, 3, 1)


def test_names_parse_back_and_plain_names_stay_plain() -> None:
    names = context_names(("sleep_midpoint", "m10"), 7)
    assert names == ("sleep_midpoint:mean7d", "m10:mean7d", "sleep_midpoint:sd7d", "m10:sd7d")
    assert [parse_name(n) for n in names] == [("sleep_midpoint", "mean", 7), ("m10", "mean", 7),
                                              ("sleep_midpoint", "sd", 7), ("m10", "sd", 7)]
    assert parse_name("sleep_midpoint") is None and parse_name("m10:median") is None and parse_name("m10:sd") is None
    assert parse_name("m10:mean\u00b3d") is None and parse_name("m10:mean0d") is None  # a superscript, no window


def test_known_answer_over_a_calendar_window_with_a_gap() -> None:
    x = np.array([[1.0], [3.0], [np.nan], [8.0]])
    dates = [DAY0, DAY0 + dt.timedelta(days=1), DAY0 + dt.timedelta(days=2), DAY0 + dt.timedelta(days=9)]
    (three,) = with_context(x, np.zeros(4), dates, (3,))
    np.testing.assert_array_equal(three[:, 0], [1.0, 2.0, 2.0, 8.0])  # means; day 9's window holds only itself
    np.testing.assert_allclose(three[:, 1], [np.nan, np.sqrt(2), np.sqrt(2), np.nan])  # sds need two values
    mean, sd = nan_mean_sd(np.full((2, 1), np.nan), axis=0)
    assert np.isnan(mean).all() and np.isnan(sd).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 11))
def test_a_days_context_never_reads_a_later_day_or_another_subject(seed: int, cut: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 3))
    x[rng.random(x.shape) < 0.2] = np.nan
    groups = np.array(["a"] * 6 + ["b"] * 6)
    dates = [DAY0 + dt.timedelta(days=int(d)) for d in np.r_[np.sort(rng.choice(20, 6, replace=False)),
                                                                np.sort(rng.choice(20, 6, replace=False))]]
    before = with_context(x, groups, dates)
    later = x.copy()
    later[cut:] = rng.normal(size=later[cut:].shape)  # change every row from `cut` on
    after = with_context(later, groups, dates)
    for b, a in zip(before, after, strict=True):  # rows are in date order within each subject
        np.testing.assert_array_equal(b[:cut], a[:cut])
    subject_a = with_context(x[:6], groups[:6], dates[:6])
    for whole, alone in zip(before, subject_a, strict=True):
        np.testing.assert_array_equal(whole[:6], alone)


def test_the_plan_puts_every_input_where_its_name_says() -> None:
    features = ("b:sd3d", "a", "a:mean7d", "b", "a:sd3d")
    plan = ContextPlan.of(features)
    assert plan.bases == ("b", "a") and plan.windows == (3, 7)
    x = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    dates = [DAY0, DAY0 + dt.timedelta(days=1), DAY0 + dt.timedelta(days=6)]
    row = plan.row(x, dates, np.ones(3, dtype=bool))
    np.testing.assert_allclose(row, [np.nan, 40.0, 70 / 3, 4.0, np.nan])  # day 6: its 3-day window is itself
    row = plan.row(x, dates, np.array([True, False, False]))  # day 1 incomplete; the newest day always counts
    np.testing.assert_allclose(row, [np.nan, 40.0, 25.0, 4.0, np.nan])


def test_complete_days_need_every_minute_recorded_worn_or_not() -> None:
    coverage = np.array([1.0, 0.9, 0.9, 1380 / 1440, np.nan])
    nonwear = np.array([np.nan, 144.0, 100.0, 0.0, np.nan])  # the fourth: a 23-hour daylight-saving day
    np.testing.assert_array_equal(complete_days(coverage, nonwear), [True, True, False, False, False])


def test_training_chooses_the_view_that_carries_the_signal_and_predicts_from_its_columns() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 8)
    y = np.repeat(rng.integers(0, 2, 30), 8)
    x = np.column_stack([rng.normal(size=240), y + rng.normal(0, 0.5, 240)])  # column 1 holds the signal
    model = fit_risk_model(x, y, groups, candidates=(Candidate(0.0, 1.0),),
                           views={"noise": np.array([0]), "signal": np.array([0, 1])})
    assert model.view == "signal" and model.chosen.endswith(", signal") and model.inner_auroc > 0.9
    np.testing.assert_array_equal(model.predict_proba(x), model.pipeline.predict_proba(x[:, [0, 1]])[:, 1])
    with pytest.raises(ValueError, match="single class"):
        fit_risk_model(x, np.zeros(240), groups, views={"signal": np.array([1])})
