"""The Depresjon benchmark on the real data: the study-window days, a reduced nested LOSO, card and report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mindbridge.models.commands import model_card
from mindbridge.models.depresjon import DepresjonResult, fit_depresjon, labelled_days, run_depresjon
from mindbridge.models.export import LinearRisk
from mindbridge.models.features import ACTIGRAPHY_FEATURES, model_inputs
from mindbridge.models.report import write_report

Tables = tuple[pd.DataFrame, pd.DataFrame]


@pytest.fixture(scope="module")
def reduced(depresjon_tables: Tables) -> DepresjonResult:
    """Nested LOSO with one regularisation strength and a short bootstrap (the CLI runs the full grid)."""
    return run_depresjon(*depresjon_tables, grid=(1.0,), n_boot=40)


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


@pytest.mark.slow
def test_nested_loso_beats_the_subject_disjoint_baseline(reduced: DepresjonResult) -> None:
    assert reduced.per_day.n == 693 and reduced.per_person.n == 55
    assert reduced.per_day.metrics["mcc"] > 0.38  # Garcia-Ceja features re-run LOSO
    assert reduced.per_person.metrics["auroc"] > 0.8
    low, high = reduced.per_person.intervals["auroc"]
    assert low <= reduced.per_person.metrics["auroc"] <= high
    assert reduced.conformal_coverage > 0.8
    headline = reduced.as_json()
    assert set(headline["per_person"]) == {"balanced_accuracy", "auroc", "mcc", "accuracy"}
    assert headline["days"]["n"] == 693


@pytest.mark.slow
def test_card_and_report_files(reduced: DepresjonResult, depresjon_tables: Tables, tmp_path: Path) -> None:
    model, days = fit_depresjon(*depresjon_tables)
    numpy_model = LinearRisk.from_pipeline(model.pipeline, ACTIGRAPHY_FEATURES)
    x = model_inputs(labelled_days(*depresjon_tables))
    np.testing.assert_allclose(numpy_model.predict_proba(x), model.predict_proba(x), atol=1e-9)
    card = model_card(reduced, model, {"model.json": "0" * 64}, days)
    json_file, md_file = card.write(tmp_path)
    assert type(card).read(tmp_path) == card
    assert card.conformal["threshold"] == model.conformal.threshold
    text = md_file.read_text()
    assert "693 days" in text and "per_person | auroc" in text and "0" * 64 in text
    report = write_report(reduced, tmp_path / "report")
    assert {p.name for p in report.parent.glob("*.png")} == {"roc.png", "reliability.png", "subjects.png"}
    assert "Jakobsen" in report.read_text() and json_file.exists()
