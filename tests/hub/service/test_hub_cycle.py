"""The directive cycle outside the request path: `mindbridge hub cycle [--now]` for every patient, the
background worker after intake (debounced, recovering patients a crash left unevaluated), and the PHQ-9
response measured from the patient's first PHQ-9 ever, even when it is older than the history window."""

from __future__ import annotations

import datetime as dt

from hub_builders import NOW, phq9, received, summary
from hubworld import make_kit, recipient_of, register
from hubworld import phq9 as phq9_on
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from mindbridge.hub import repository
from mindbridge.hub.commands import hub_app
from mindbridge.hub.consent_registry import ConsentRegistry
from mindbridge.hub.cycle import CycleWorker
from mindbridge.hub.db import AuditRow, DirectiveRow, PatientRow, SurveyBaselineRow
from mindbridge.hub.pathways import PathwayEngine, PatientHistory
from mindbridge.hub.service import Hub, Settings
from mindbridge.privacy.keys import Identity


def _rules(hub: Hub, patient: str) -> list[str]:
    with hub.sessions() as s:
        return [d.rule_id for d in repository.directives_of(s, patient)]


def test_cycle_command_runs_every_patient_as_of_the_given_time(hub: Hub, db_url: str, now: dt.datetime) -> None:
    quiet, other = make_kit(now), make_kit(now)
    register(hub, [quiet, other], now)
    later = (now + dt.timedelta(days=8)).isoformat()
    result = CliRunner().invoke(hub_app, ["cycle", "--db", db_url, "--now", later])
    assert result.exit_code == 0, result.output
    assert "2 queue item(s) changed" in result.output, "eight days without data: a lost signal for each patient"
    assert _rules(hub, quiet.did) == ["signal-lost-week"] == _rules(hub, other.did)
    again = CliRunner().invoke(hub_app, ["cycle", "--db", db_url, "--now", later])
    assert again.exit_code == 0 and "0 queue item(s) changed" in again.output, "the same cycle again changes nothing"
    with hub.sessions() as s:
        runs = s.scalars(select(AuditRow.detail).where(AuditRow.action == "admin.cycle", AuditRow.actor == "cli"))
        assert len(list(runs)) == 2


def test_cycle_command_refuses_a_time_without_zone(db_url: str) -> None:
    result = CliRunner().invoke(hub_app, ["cycle", "--db", db_url, "--now", "2026-11-27T09:00:00"])
    assert result.exit_code == 2 and "time zone" in result.output
    result = CliRunner().invoke(hub_app, ["cycle", "--db", db_url, "--now", "next tuesday"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_response_baseline_is_the_first_phq9_ever_not_the_first_in_the_window(
        db_url: str, clinic: Identity, now: dt.datetime) -> None:
    hub = Hub.start(Settings(database_url=db_url, history_days=30, cycle_debounce=0.01), clinic)
    start = now - dt.timedelta(days=40)  # outside the 30-day history window by the end
    kit, to = make_kit(start), recipient_of(clinic)
    try:
        register(hub, [kit], start)
        sent = [(start, 20.0), (now - dt.timedelta(days=5), 12.0), (now, 8.0)]  # 20 → 8: −60 %; 12 → 8: −33 %
        for at, total in sent:
            kit.now = at  # the device sealed each envelope on that day, and the patient's status list is fresh
            with hub.sessions() as s:
                ConsentRegistry(s, clinic.did).update_status(kit.status_list())
                s.commit()
            hub.receive(kit.day(at.date(), to, surveys=[phq9_on(at.date(), total, 0)]), at)
            hub.settle()
        with hub.sessions() as s:
            (baseline,) = s.scalars(select(SurveyBaselineRow).where(SurveyBaselineRow.patient == kit.did))
            assert baseline.survey_date == start.date()
            assert len(repository.history(s, kit.did, now, 30)) == 2, "the first PHQ-9 is out of the window"
            (body,) = s.scalars(select(DirectiveRow.body).where(DirectiveRow.rule_id == "phq9-response"))
    finally:
        hub.close()
    assert "fell from 20 to 8 (-60%)" in body


def test_pathway_measures_response_from_first_surveys_when_given() -> None:
    engine = PathwayEngine.from_file()
    window = received(summary(12, 0.2, surveys=[phq9(12, 12)]), summary(19, 0.2, surveys=[phq9(19, 8)]))
    first_ever = received(summary(2, 0.2, surveys=[phq9(2, 20)]))
    without = {d.rule_id for d in engine.evaluate(PatientHistory("p", window), NOW)}
    with_first = {d.rule_id for d in engine.evaluate(PatientHistory("p", window, first_surveys=first_ever), NOW)}
    assert "phq9-response" not in without and "phq9-response" in with_first
    same = {d.rule_id for d in engine.evaluate(PatientHistory("p", window[1:], first_surveys=window[1:]), NOW)}
    assert "phq9-response" not in same, "a survey is never its own baseline"


def test_worker_recovers_patients_whose_cycle_a_crash_prevented(hub: Hub, clinic: Identity,
                                                                now: dt.datetime) -> None:
    kit = make_kit(now)
    register(hub, [kit], now)
    hub.receive(kit.day(now.date(), recipient_of(clinic), surveys=[phq9_on(now.date(), 5, 1)]), now)
    hub.settle()
    with hub.sessions() as s:  # as if the process died between the envelope's commit and its cycle
        s.execute(update(PatientRow).values(evaluated_at=None, active_rules=[]))
        s.execute(delete(DirectiveRow))
        s.commit()
    assert _rules(hub, kit.did) == []
    restarted = CycleWorker(hub.cycle, debounce=0.01)  # a new process's worker sweeps at start-up
    try:
        restarted.settle()
    finally:
        restarted.close()
    assert _rules(hub, kit.did) == ["item9-positive"]
