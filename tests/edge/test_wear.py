"""Evidence only from data that can carry it: a day the watch was off yields no activity or sleep claim on the
device, and the clinic's pathway files it as a data gap, never as risk (Depresjon condition_1's and
condition_6's last days, where the watch came off)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edge.world import NOW, Clinic, depresjon_series, new_engine
from mindbridge.edge.engine import split_days
from mindbridge.hub.pathways import PathwayEngine, PatientHistory, Received
from mindbridge.models.robust import MIN_COVERAGE
from mindbridge.summary import RiskSummary


def _replayed(depresjon_dir: Path, tmp_path: Path, model_dir: Path, clinic: Clinic,
              name: str) -> list[RiskSummary]:
    engine = new_engine(tmp_path / name, model_dir, clinic)
    summaries = []
    for day, part in split_days(depresjon_series(depresjon_dir, name)):
        summary = engine.ingest_day(day, part, now=NOW)
        if summary is not None:
            summaries.append(summary)
    return summaries


@pytest.mark.slow
def test_the_day_the_watch_came_off_makes_no_claim_and_is_filed_as_a_data_gap(
        depresjon_dir: Path, tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    summaries = _replayed(depresjon_dir, tmp_path, model_dir, clinic, "condition_1")
    last = summaries[-1]
    # 924 minutes recorded on the last day, 909 of them zero: worn for about an hour
    assert last.window_end == dt.date(2003, 5, 23) and last.coverage["activity"] < 0.1
    assert last.deviations == [], "no activity or sleep deviation from an unworn day"
    assert any(s.deviations for s in summaries[:-1]), "worn days do carry deviations"
    history = PatientHistory(clinic.patient.did, [Received(f"env-{i}", s) for i, s in enumerate(summaries)])
    now = dt.datetime.combine(last.window_end, dt.time(22), dt.UTC)
    directives = PathwayEngine.from_file().evaluate(history, now)
    gap = [d for d in directives if d.rule_id == "device-not-worn"]
    assert len(gap) == 1 and gap[0].evidence.probability is None and gap[0].evidence.window_end == last.window_end
    for d in directives:
        if d.rule_id != "device-not-worn":
            assert f"env-{len(summaries) - 1}" not in d.evidence.envelope_ids, f"{d.rule_id} rests on the unworn day"


@pytest.mark.slow
def test_a_partial_night_yields_no_sleep_timing_claim(depresjon_dir: Path, tmp_path: Path, model_dir: Path,
                                                      clinic: Clinic) -> None:
    summaries = _replayed(depresjon_dir, tmp_path, model_dir, clinic, "condition_6")
    last = summaries[-1]
    assert last.coverage["sleep"] < MIN_COVERAGE  # about half the night recorded: an afternoon rest is no night
    assert not [d for d in last.deviations if d.family in ("sleep", "activity")]
