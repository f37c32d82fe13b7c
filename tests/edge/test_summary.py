"""Summaries: valid RiskSummary with provenance, no raw series, opened at the clinic; baseline and bands."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge.world import NOW, Clinic, depresjon_series, new_engine
from mindbridge.biomarkers.surveys import PHQ9, PHQ9_ITEM9
from mindbridge.biomarkers.trailing import COLUMNS, feature_units
from mindbridge.edge.baseline import personal_baseline, top_deviations
from mindbridge.edge.engine import DayRefused, split_days
from mindbridge.edge.replay import replay
from mindbridge.edge.summary_builder import bootstrap_interval, conformal_band, risk_band
from mindbridge.models import baseline as model_baseline
from mindbridge.models.conformal import ConformalSets
from mindbridge.models.robust import Shift
from mindbridge.privacy.errors import ReplayDetected
from mindbridge.privacy.payload import refuse_raw_series
from mindbridge.summary import Interval, RiskSummary

DAY = dt.date(2024, 3, 10)


@pytest.mark.slow
def test_replay_seals_one_envelope_per_day_that_opens_at_the_clinic(depresjon_dir: Path, tmp_path: Path,
                                                                     model_dir: Path, clinic: Clinic) -> None:
    engine = new_engine(tmp_path / "state", model_dir, clinic)
    series = depresjon_series(depresjon_dir, "condition_1")
    report = replay(engine, series, tmp_path / "out", now=NOW)
    assert report.days == len(split_days(series)) and report.sealed == len(report.envelopes) >= report.days - 2
    seqs = []
    for path in report.envelopes:
        opened = clinic.opener.open(path.read_bytes(), now=NOW)
        summary = opened.payload
        assert isinstance(summary, RiskSummary) and summary.subject == clinic.patient.did
        assert (summary.model_id, summary.model_version) == ("edge-test-logistic", "0.0.1")
        day = dt.date.fromisoformat(path.name[:10])
        assert summary.window_end == day and summary.window_start < day
        assert set(summary.coverage) == {"activity", "circadian", "sleep"}
        data = summary.model_dump(mode="json")
        refuse_raw_series(data)
        assert len(json.dumps(data)) < 4000  # a summary, not a series
        seqs.append(opened.header.seq)
    assert seqs == list(range(1, len(seqs) + 1)) and engine.state.seq == len(seqs)
    with pytest.raises(ReplayDetected):
        clinic.opener.open(report.envelopes[-1].read_bytes(), now=NOW)


@pytest.mark.slow
def test_deviations_equal_the_model_teams_baseline(depresjon_dir: Path, tmp_path: Path, model_dir: Path,
                                                   clinic: Clinic) -> None:
    engine = new_engine(tmp_path / "state", model_dir, clinic)
    found, sustained, rows, seen = 0, 0, [], []
    for day, part in split_days(depresjon_series(depresjon_dir, "control_2")):
        summary = engine.ingest_day(day, part, now=NOW)
        rows.append(engine.state.features[-1])  # the batch side sees every day so far, not the bounded history
        seen.append(pd.Timestamp(day))
        table = pd.DataFrame(rows, columns=list(COLUMNS), index=pd.DatetimeIndex(seen))
        expected = model_baseline.top_deviations(table, pd.Timestamp(day))
        assert summary is None or summary.deviations == expected
        found += len(expected)
        sustained += sum(d.sustained_since is not None for d in expected)
    assert found >= 3 and sustained >= 1


def worn(days: int) -> dict[str, np.ndarray]:
    """A past of `days` days with every family worn all day and no feature value yet."""
    return {name: np.full(days, 1.0 if name.startswith("coverage_") else np.nan) for name in COLUMNS}


def today_worn(**values: float) -> dict[str, float]:
    """Today's features: these values, the rest missing, every family worn all day."""
    return {name: 1.0 if name.startswith("coverage_") else np.nan for name in COLUMNS} | values


def test_deviation_known_answer() -> None:
    past = worn(9)
    past["sleep_midpoint"] = np.array([2.0, 3.0, 4.0, 2.0, 3.0, 4.0, 2.0, 3.0, 4.0])  # median 3 h, MAD 1 h
    past["activity_mean"] = np.array([100.0, 110, 90, 100, 105, 95, 100, 100, 100])  # today is usual
    today = today_worn(sleep_midpoint=6.5, activity_mean=101.0)
    [dev] = top_deviations(DAY, personal_baseline(today, past), feature_units())
    assert (dev.biomarker, dev.family, dev.unit, dev.baseline, dev.days) == ("sleep_midpoint", "sleep", "h", 3.0, 9)
    assert dev.robust_z == pytest.approx(3.5 / 1.4826) and dev.sustained_since is None
    assert dev.text == "sleep midpoint around 06:30, usually 03:00 (3 h 30 min later)"
    past["sleep_midpoint"][:3] = np.nan  # six days of history are not enough
    assert top_deviations(DAY, personal_baseline(today, past), feature_units()) == []


def test_a_signalled_shift_is_named_with_its_onset_while_recent() -> None:
    past = worn(9)
    past["sleep_total"] = np.array([400.0, 420, 440, 400, 420, 440, 400, 420, 440])  # median 420, MAD 20 min
    today = today_worn(sleep_total=440.0)  # z 0.67: no deviation by itself
    baseline = personal_baseline(today, past)
    shift = Shift(direction=1, onset=DAY - dt.timedelta(days=5), signalled=DAY - dt.timedelta(days=2))
    [dev] = top_deviations(DAY, baseline, feature_units(), {"sleep_total": shift})
    assert dev.sustained_since == shift.onset
    assert dev.text == (f"sleep total: a sustained shift higher since {shift.onset:%d %b %Y} (today within this "
                        "patient's usual range)")
    stale = Shift(direction=1, onset=DAY - dt.timedelta(days=20), signalled=DAY - dt.timedelta(days=7))
    assert top_deviations(DAY, baseline, feature_units(), {"sleep_total": stale}) == []


def test_bootstrap_interval_and_bands() -> None:
    p = np.array([0.2, 0.4, 0.6, 0.8])
    lo, hi = bootstrap_interval(p)
    every = p[np.array(list(itertools.product(range(4), repeat=4)))].mean(axis=1)  # 256 equally likely draws
    assert (lo, hi) == pytest.approx(tuple(np.quantile(every, [0.05, 0.95], method="inverted_cdf")), abs=1e-12)
    assert bootstrap_interval(np.array([0.3])) == (0.3, 0.3)
    assert bootstrap_interval(np.full(7, 0.6)) == pytest.approx((0.6, 0.6))
    with pytest.raises(ValueError, match="1 to 7"):
        bootstrap_interval(np.full(8, 0.5))
    assert risk_band(Interval(lower=0.5, upper=0.7), 0.42) == "high"
    assert risk_band(Interval(lower=0.1, upper=0.41), 0.42) == "low"
    assert risk_band(Interval(lower=0.3, upper=0.5), 0.42) == "moderate"


def test_conformal_band_is_the_cards_prediction_set() -> None:
    sets = ConformalSets(threshold=0.65, alpha=0.1)  # label 1 in the set from p ≥ 0.35, label 0 up to p ≤ 0.65
    assert [conformal_band(p, sets) for p in (0.2, 0.35, 0.5, 0.65, 0.66, 0.9)] == [
        "low", "moderate", "moderate", "moderate", "high", "high"]
    assert conformal_band(0.5, ConformalSets(threshold=0.4, alpha=0.3)) == "moderate"  # an empty set


def test_a_model_card_with_a_conformal_threshold_sets_the_band(depresjon_dir: Path, tmp_path: Path,
                                                                model_dir: Path, clinic: Clinic) -> None:
    card = json.loads((model_dir / "card.json").read_text())
    card["conformal"] = {"alpha": 0.1, "threshold": 0.5}  # {1} above 0.5, {0} below: the band follows p
    (model_dir / "card.json").write_text(json.dumps(card))
    engine = new_engine(tmp_path / "state", model_dir, clinic)
    assert engine.model.conformal == ConformalSets(threshold=0.5, alpha=0.1)
    bands = []
    for day, part in split_days(depresjon_series(depresjon_dir, "condition_3"))[:10]:
        summary = engine.ingest_day(day, part, now=NOW)
        if summary is not None:
            assert summary.risk_band == ("high" if summary.probability > 0.5 else "low")
            bands.append(summary.risk_band)
    assert len(bands) >= 8


def test_phq9_answers_travel_as_a_scored_survey(depresjon_dir: Path, tmp_path: Path, model_dir: Path,
                                                clinic: Clinic) -> None:
    engine = new_engine(tmp_path / "state", model_dir, clinic)
    days = split_days(depresjon_series(depresjon_dir, "condition_4"))[:4]
    for day, part in days[:-1]:
        engine.ingest_day(day, part, now=NOW)
    answers = dict.fromkeys(PHQ9.items, 2) | {PHQ9_ITEM9: 1}
    sealed = engine.process_day(*days[-1], answers=answers, now=NOW)
    assert sealed.envelope is not None
    summary = clinic.opener.open(sealed.envelope, now=NOW).payload
    phq9 = next(s for s in summary.surveys if s.instrument == "PHQ-9")
    assert (phq9.total, phq9.band, phq9.flagged_items, phq9.date) == (17.0, "moderately severe", {PHQ9_ITEM9: 1},
                                                                      days[-1][0])


def test_a_day_with_samples_of_another_day_is_refused(depresjon_dir: Path, tmp_path: Path, model_dir: Path,
                                                      clinic: Clinic) -> None:
    engine = new_engine(tmp_path / "state", model_dir, clinic)
    (d0, p0), (d1, _) = split_days(depresjon_series(depresjon_dir, "condition_4"))[:2]
    with pytest.raises(DayRefused, match=f"expected only {d1}"):
        engine.ingest_day(d1, p0)
    assert engine.state.last_day is None and d0 < d1
