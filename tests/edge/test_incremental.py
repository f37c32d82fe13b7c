"""Incremental equals batch: the engine's day-by-day features and probabilities match the pandas pipeline's
over the same trailing window, on real Depresjon recordings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge.world import Clinic, depresjon_series, new_engine, write_model
from mindbridge.biomarkers.activity import ActivityFamily
from mindbridge.biomarkers.activity_profile import ActivityProfile
from mindbridge.biomarkers.base import Family
from mindbridge.biomarkers.circadian import CircadianFamily
from mindbridge.biomarkers.sleep import SleepFamily
from mindbridge.biomarkers.table import daily_table
from mindbridge.biomarkers.trailing import COLUMNS, trailing_table
from mindbridge.datapoints import Series
from mindbridge.edge.engine import split_days
from mindbridge.models.context import complete_days, context_names, with_context
from mindbridge.models.features import ACTIGRAPHY_FEATURES, model_inputs
from mindbridge.models.linear import PARAMS_FILE, LinearRisk
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy

FAMILIES: list[Family] = [ActivityFamily(), CircadianFamily(), SleepFamily(), ActivityProfile()]


def trailing(series: Series, day: dt.date, days: int) -> Series:
    """The recording cut to the local days (day − days, day]."""
    local = series.local_date()
    keep = (local > np.datetime64(day - dt.timedelta(days=days), "D")) & (local <= np.datetime64(day, "D"))
    return series.take(keep)


@pytest.mark.slow
@pytest.mark.parametrize("subject", ["condition_3", "control_1"])  # control_1 crosses the spring DST gap
def test_day_by_day_equals_batch_over_the_same_window(depresjon_dir: Path, tmp_path: Path, model_dir: Path,
                                                      clinic: Clinic, subject: str) -> None:
    series = depresjon_series(depresjon_dir, subject)
    engine = new_engine(tmp_path / "state", model_dir, clinic)
    batch_model = LinearRisk.load(model_dir / PARAMS_FILE)
    compared = 0
    for day, part in split_days(series)[:24]:
        engine.ingest_day(day, part)
        table = daily_table([trailing(series, day, engine.state.window_days)], FAMILIES)
        row = table.loc[[pd.Timestamp(day)]]
        mine = dict(zip(COLUMNS, engine.state.features[-1], strict=True))
        for name in COLUMNS:
            assert np.isclose(mine[name], float(row[name].iloc[0]), rtol=0, atol=1e-9, equal_nan=True), (day, name)
        expected = batch_model.predict_proba(model_inputs(row, ACTIGRAPHY_FEATURES))[0]
        assert engine.day_probabilities()[day] == pytest.approx(expected, abs=1e-9)
        compared += 1
    assert compared >= 16


@pytest.mark.slow
def test_the_engine_computes_the_features_training_reads(depresjon_dir: Path, tmp_path: Path, model_dir: Path,
                                                         clinic: Clinic) -> None:
    series = depresjon_series(depresjon_dir, "control_6")  # with a 23-hour daylight-saving day
    engine = new_engine(tmp_path / "state", model_dir, clinic)
    table = trailing_table(series).set_index("date")  # what `mindbridge train` fits the model on
    compared = 0
    for day, part in split_days(series):  # every day, the first ones' short windows included
        engine.ingest_day(day, part)
        expected = table.loc[pd.Timestamp(day), list(COLUMNS)].to_numpy(float)
        assert np.array_equal(engine.state.features[-1], expected, equal_nan=True), day
        compared += 1
    assert compared == len(table) > 30


@pytest.mark.slow
@pytest.mark.parametrize("subject", ["condition_3", "control_6"])  # control_6 holds a 23-hour daylight-saving day
def test_context_inputs_equal_trainings_over_the_same_days(depresjon_dir: Path, tmp_path: Path, clinic: Clinic,
                                                          subject: str) -> None:
    plain = ACTIGRAPHY_FEATURES[:6]
    context = context_names(plain, 3) + context_names(plain, 7)
    features = tuple(np.random.default_rng(5).permutation(plain + context))  # any order of the model's inputs
    folder = write_model(tmp_path / "model", weights=np.linspace(-0.5, 0.5, len(features)), features=features)
    engine = new_engine(tmp_path / "state", folder, clinic)
    for day, part in split_days(depresjon_series(depresjon_dir, subject))[:29]:
        engine.ingest_day(day, part)
    # training's path: the complete days only (its study days), through models.context, from the same features
    table = pd.DataFrame(engine.state.features, columns=COLUMNS)
    complete = complete_days(table["coverage_activity"], table["activity_nonwear"])
    assert not complete[0] and complete.sum() >= 12  # a recording starts with a partial day, which training drops
    days = [d for d, keep in zip(engine.state.days, complete, strict=True) if keep]
    base = model_inputs(table[complete], plain)
    three, seven = with_context(base, np.zeros(len(days)), days, (3, 7))
    columns = dict(zip(plain + context, np.hstack([base, three, seven]).T, strict=True))
    expected = LinearRisk.load(folder / PARAMS_FILE).predict_proba(np.array([columns[f] for f in features]).T)
    np.testing.assert_allclose(engine.state.probability[complete], expected, rtol=0, atol=1e-12)


def test_lean_reader_equals_the_canonical_reader(depresjon_dir: Path) -> None:
    path = depresjon_dir / "control" / "control_1.csv"  # holds the 2003 spring daylight-saving gap
    canonical = DepresjonActigraphy().read(path, ReadContext()).series[0]
    lean = depresjon_series(depresjon_dir, "control_1")
    assert np.array_equal(lean.time, canonical.time)
    assert np.array_equal(lean.values, canonical.values)
    assert (lean.tz, lean.source) == (canonical.tz, canonical.source)
