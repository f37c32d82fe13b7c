"""The Depresjon benchmark on the real data: the study-window days, a reduced nested LOSO, card and report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mindbridge.models.commands import model_card
from mindbridge.models.depresjon import (
    DepresjonResult,
    day_inputs,
    fit_depresjon,
    labelled_days,
    person_labels,
    run_depresjon,
)
from mindbridge.models.export import export_onnx, onnx_predict
from mindbridge.models.features import MODEL_FEATURES, PROFILE_FEATURES, model_inputs, person_feature_names
from mindbridge.models.linear import LinearRisk
from mindbridge.models.report import write_report
from mindbridge.models.training import Candidate

Tables = tuple[pd.DataFrame, pd.DataFrame]


@pytest.fixture(scope="module")
def reduced(depresjon_tables: Tables) -> DepresjonResult:
    """Nested LOSO with one candidate and a short bootstrap (the CLI chooses among all of them)."""
    return run_depresjon(*depresjon_tables, candidates=(Candidate(0.0, 0.1),), n_boot=40)


def test_study_window_is_the_published_693_days(depresjon_tables: Tables) -> None:
    days = labelled_days(*depresjon_tables)
    assert len(days) == 693 and days["y"].sum() == 291 and days["subject"].nunique() == 55
    window = depresjon_tables[1].set_index("subject")["days"]
    assert (days.groupby("subject").size() == window.loc[days["subject"].unique()].astype(int)).all()


def test_missing_label_column_is_named(depresjon_tables: Tables) -> None:
    with pytest.raises(ValueError, match="'group'"):
        labelled_days(depresjon_tables[0], depresjon_tables[1].drop(columns="group"))
    with pytest.raises(ValueError, match="activity_kra"):
        model_inputs(depresjon_tables[0].drop(columns="activity_kra"))
    with pytest.raises(ValueError, match="activity_rest_exponent"):
        model_inputs(depresjon_tables[0].drop(columns="activity_rest_exponent"))


def test_profile_features_are_present_on_almost_every_study_day(depresjon_tables: Tables) -> None:
    days = labelled_days(*depresjon_tables)
    present = days[list(PROFILE_FEATURES)].notna().mean()
    assert (present > 0.95).all(), present[present <= 0.95]


@pytest.mark.slow
def test_nested_loso_beats_the_subject_disjoint_baseline(reduced: DepresjonResult) -> None:
    assert reduced.per_day.n == 693 and reduced.per_person.n == 55
    assert reduced.per_day.metrics["mcc"] > 0.38  # Garcia-Ceja features re-run LOSO
    assert reduced.per_person.metrics["auroc"] > 0.85  # person model
    assert reduced.per_person_from_days.metrics["auroc"] > 0.8
    assert reduced.per_person.n == len(reduced.persons) == 55
    low, high = reduced.per_person.intervals["auroc"]
    assert low <= reduced.per_person.metrics["auroc"] <= high
    assert reduced.conformal_coverage > 0.8
    headline = json.loads(json.dumps(reduced.as_json()))
    assert set(headline["per_person"]) == set(headline["per_day"]) == {"balanced_accuracy", "auroc", "mcc", "accuracy"}
    assert headline["days"]["n"] == 693 and "protocol" in headline
    day_choices = headline["chosen_in_folds"]["day"]
    assert sum(day_choices.values()) == 55 and all("the day" in choice for choice in day_choices)
    assert sum(headline["chosen_in_folds"]["person"].values()) == 55


@pytest.mark.slow
def test_card_and_report_files(reduced: DepresjonResult, depresjon_tables: Tables, tmp_path: Path) -> None:
    fitted = fit_depresjon(*depresjon_tables)
    labelled = labelled_days(*depresjon_tables)
    whole, names, views = day_inputs(labelled)
    assert fitted.day.view in views and fitted.features == tuple(names[i] for i in views[fitted.day.view])
    x = whole[:, views[fitted.day.view]]
    numpy_model = LinearRisk.from_pipeline(fitted.day.pipeline, fitted.features)
    np.testing.assert_allclose(numpy_model.predict_proba(x), fitted.day.predict_proba(whole), atol=1e-9)
    onnx_file = export_onnx(fitted.day.pipeline, len(fitted.features), tmp_path / "model.onnx")
    np.testing.assert_allclose(onnx_predict(onnx_file, x), fitted.day.predict_proba(whole), atol=1e-6, rtol=0)
    assert onnx_file.stat().st_size < 100_000
    person_numpy = LinearRisk.from_pipeline(fitted.person.pipeline, person_feature_names())
    xp, yp = person_labels(labelled)
    np.testing.assert_allclose(person_numpy.predict_proba(xp), fitted.person.predict_proba(xp), atol=1e-9)
    assert len(person_numpy.features) == 2 * len(MODEL_FEATURES) == xp.shape[1] and yp.sum() == 23
    card = model_card(reduced, fitted, {"model.json": "0" * 64})
    json_file, md_file = card.write(tmp_path)
    assert type(card).read(tmp_path) == card and card.features == list(fitted.features)
    assert card.conformal["threshold"] == fitted.day.conformal.threshold
    text = md_file.read_text()
    assert "693 days" in text and "per_person | auroc" in text and "0" * 64 in text
    report = write_report(reduced, tmp_path / "report")
    assert {p.name for p in report.parent.glob("*.png")} == {"roc.png", "reliability.png", "subjects.png"}
    assert "Jakobsen" in report.read_text() and "Chosen inside the training folds" in report.read_text()
    assert json_file.exists()
