"""The GLOBEM sample: loading weekly labels with 14-day features, and the past → last-week protocol."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mindbridge.models.commands import register
from mindbridge.models.globem import GlobemResult, last_week_split, load_dataset, load_sample, run_globem
from shared_data import shared_path


@pytest.fixture(scope="module")
def sample_result() -> GlobemResult:
    """The protocol run once on the sample (three model families and a refit take several seconds)."""
    return run_globem(load_sample(shared_path("globem_sample")))


def test_sample_has_a_row_per_weekly_label(globem_dir: Path) -> None:
    weeks = load_sample(globem_dir)
    assert len(weeks) == 120 and weeks["pid"].nunique() == 40
    assert set(weeks["dep"]) == {0, 1}
    features = [c for c in weeks.columns if c.endswith(":14dhist")]
    assert features and not any("_norm:" in c or "_dis:" in c for c in features)


def test_last_week_protocol(sample_result: GlobemResult) -> None:
    result = sample_result
    assert (result.train_weeks, result.test_weeks, result.users) == (80, 40, 40)
    assert set(result.inner_balanced_accuracy) == {"logistic", "random forest", "extra trees"}
    low, high = result.intervals["balanced_accuracy"]
    assert low <= result.metrics["balanced_accuracy"] <= high
    assert result.metrics["balanced_accuracy"] > 0.65  # well above chance on the sample's held-out weeks


def test_held_out_labels_never_reach_the_model(globem_dir: Path, sample_result: GlobemResult) -> None:
    weeks = load_sample(globem_dir)
    _, test = last_week_split(weeks)
    flipped = weeks.copy()
    held = flipped.set_index(["pid", "date"]).index.isin(test.set_index(["pid", "date"]).index)
    flipped.loc[held, "dep"] = 1 - flipped.loc[held, "dep"]
    mine, theirs = sample_result, run_globem(flipped)
    assert mine.chosen == theirs.chosen and mine.inner_balanced_accuracy == theirs.inner_balanced_accuracy
    assert mine.metrics["balanced_accuracy"] == pytest.approx(1.0 - theirs.metrics["balanced_accuracy"])


def test_missing_label_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "INS-W-x" / "SurveyData").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"dep_weekly\.csv"):
        load_dataset(tmp_path / "INS-W-x")
    with pytest.raises(FileNotFoundError, match="no INS-W"):
        load_sample(tmp_path / "INS-W-x")


def test_cli_prints_ours_beside_the_paper(globem_dir: Path) -> None:
    app = typer.Typer()
    register(app, lambda folder: pytest.fail(f"Depresjon loader called for {folder}"),
             lambda *args: pytest.fail(f"model signer asked for with {args}"))
    result = CliRunner().invoke(app, ["evaluate", "globem", str(globem_dir)])
    assert result.exit_code == 0, result.output
    assert "0.691" in result.output and "mindbridge" in result.output
    bad = CliRunner().invoke(app, ["evaluate", "globem", str(globem_dir / "nowhere")])
    assert bad.exit_code == 1
