"""The default pathway and the rule language: each rule fires when, and only when, it should."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from hub_builders import phq9, received, summary

from mindbridge.hub.pathway_model import PathwayError, load_pathway, parse_duration
from mindbridge.hub.pathways import DEFAULT_PATHWAY, PathwayEngine, PatientHistory
from mindbridge.summary import Deviation

ENGINE = PathwayEngine.from_file()


def _fired(history: PatientHistory, now: dt.datetime) -> dict[str, str]:
    return {d.rule_id: d.tier for d in ENGINE.evaluate(history, now)}


def test_item9_positive_is_critical_and_quotes_the_answer(now: dt.datetime) -> None:
    h = PatientHistory("p1", received(summary(19, 0.1, surveys=[phq9(19, 6, item9=1)])))
    (d,) = [d for d in ENGINE.evaluate(h, now) if d.rule_id == "item9-positive"]
    assert d.tier == "critical" and d.action == "safety_assessment"
    assert "answered 1 on 2026-11-19" in d.rationale
    assert d.due == now + dt.timedelta(hours=4)
    assert d.evidence.surveys[0].flagged_items == {"item9": 1}
    assert d.pathway_version == "2026.12.0" and d.model_version == "1.0.0"


def test_negative_item9_does_not_suppress_other_signals(now: dt.datetime) -> None:
    days = [summary(d, 0.8, width=0.1, surveys=[phq9(19, 22, item9=0)] if d == 19 else None)
            for d in range(13, 20)]
    fired = _fired(PatientHistory("p1", received(*days)), now)
    assert "item9-positive" not in fired
    assert fired["high-risk-persistent"] == "urgent" and fired["phq9-severe"] == "urgent"


def test_persistence_needs_n_of_m_days(now: dt.datetime) -> None:
    four_high = [summary(d, 0.8 if d >= 16 else 0.2) for d in range(13, 20)]
    fired = _fired(PatientHistory("p1", received(*four_high)), now)
    assert "high-risk-persistent" not in fired and fired["rising-risk"] == "routine"
    five_high = [summary(d, 0.8 if d >= 15 else 0.2) for d in range(13, 20)]
    fired = _fired(PatientHistory("p1", received(*five_high)), now)
    assert "high-risk-persistent" in fired and "rising-risk" not in fired


def test_hysteresis_keeps_an_active_rule_until_the_exit_threshold(now: dt.datetime) -> None:
    h = received(summary(19, 0.45))
    assert "rising-risk" not in _fired(PatientHistory("p1", h), now)
    assert "rising-risk" in _fired(PatientHistory("p1", h, active_rules=frozenset({"rising-risk"})), now)
    low = received(summary(19, 0.35))
    assert "rising-risk" not in _fired(PatientHistory("p1", low, active_rules=frozenset({"rising-risk"})), now)


def test_data_gap_tiers(now: dt.datetime) -> None:
    assert _fired(PatientHistory("p1", received(summary(16, 0.1))), now) == {"signal-lost": "routine"}
    assert _fired(PatientHistory("p1", received(summary(12, 0.1))), now) == {"signal-lost-week": "urgent"}
    never = PatientHistory("p1", [], enrolled_at=now - dt.timedelta(days=8))
    (d,) = ENGINE.evaluate(never, now)
    assert d.rule_id == "signal-lost-week" and "last worn day never" in d.rationale
    assert _fired(PatientHistory("p1", []), now) == {}


def test_response_and_remission_need_a_baseline(now: dt.datetime) -> None:
    first = summary(6, 0.3, surveys=[phq9(6, 16)])
    later = summary(19, 0.1, surveys=[phq9(19, 4)])
    fired = _fired(PatientHistory("p1", received(first, later)), now)
    assert {"phq9-response", "phq9-remission"} <= set(fired)
    alone = _fired(PatientHistory("p1", received(later)), now)
    assert "phq9-response" not in alone and "phq9-remission" not in alone


def test_deviation_rule_quotes_the_device_text(now: dt.datetime) -> None:
    dev = Deviation(biomarker="sleep_midpoint", family="sleep", unit="h", value=5.6, baseline=3.5,
                    robust_z=3.1, days=4, text="sleep midpoint 2.1 h later than this patient's usual")
    (d,) = ENGINE.evaluate(PatientHistory("p1", received(summary(19, 0.2, deviations=[dev]))), now)
    assert d.rule_id == "sleep-shift"
    assert d.rationale.startswith("sleep midpoint 2.1 h later") and d.evidence.deviations == [dev]


def test_medication_is_only_ever_a_suggestion(now: dt.datetime) -> None:
    days = [summary(d, 0.8, surveys=[phq9(19, 12)] if d == 19 else None) for d in range(6, 20)]
    (d,) = [d for d in ENGINE.evaluate(PatientHistory("p1", received(*days)), now)
            if d.rule_id == "medication-review-suggestion"]
    assert d.suggestion_only
    raw = yaml.safe_load(DEFAULT_PATHWAY.read_text())
    rule = next(r for r in raw["rules"] if r["id"] == "medication-review-suggestion")
    rule["suggestion_only"] = False
    with pytest.raises(Exception, match="suggestion_only"):
        type(ENGINE.pathway).model_validate(raw)


def test_same_evidence_gives_the_same_directive_id(now: dt.datetime) -> None:
    h = PatientHistory("p1", received(summary(19, 0.55)))
    assert [d.id for d in ENGINE.evaluate(h, now)] == [d.id for d in ENGINE.evaluate(h, now)]
    # the same last summary quoted with another gap is another directive: one id, one content
    quiet = PatientHistory("p1", received(summary(16, 0.1)))
    (three,), (four,) = (ENGINE.evaluate(quiet, now + dt.timedelta(days=k)) for k in (0, 1))
    assert (three.rule_id, four.rule_id) == ("signal-lost", "signal-lost")
    assert "for 4 days" in three.rationale and "for 5 days" in four.rationale and three.id != four.id


@pytest.mark.parametrize(("patch", "message"), [
    ({"rules": []}, "rules"),
    ({"version": ""}, "version"),
    ({"rules": [{"id": "x1", "title": "t", "when": {"risk": {"at_least": 1.5}}, "action": "a_b",
                 "action_text": "t", "tier": "urgent", "due": "P1D", "rationale": "r"}]}, "rules.0.when.risk.at_least"),
    ({"rules": [{"id": "x1", "title": "t", "when": {}, "action": "a_b", "action_text": "t", "tier": "urgent",
                 "due": "P1D", "rationale": "r"}]}, "exactly one"),
    ({"rules": [{"id": "x1", "title": "t", "when": {"data_gap": {"days_at_least": 2}}, "action": "a_b",
                 "action_text": "t", "tier": "soon", "due": "P1D", "rationale": "r"}]}, "rules.0.tier"),
    ({"rules": [{"id": "x1", "title": "t", "when": {"data_gap": {"days_at_least": 2}}, "action": "a_b",
                 "action_text": "t", "tier": "urgent", "due": "tomorrow", "rationale": "r"}]}, "ISO 8601"),
])
def test_bad_pathway_files_name_the_field(tmp_path: Path, patch: dict[str, object], message: str) -> None:
    raw = yaml.safe_load(DEFAULT_PATHWAY.read_text())
    raw.update(patch)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PathwayError, match=message) as err:
        load_pathway(path)
    assert str(path) in str(err.value)


def test_rationale_may_only_use_facts_its_tests_provide(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_PATHWAY.read_text())
    raw["rules"][0]["rationale"] = "probability {probability}"
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PathwayError, match="probability"):
        PathwayEngine.from_file(path)


def test_durations() -> None:
    assert parse_duration("P1DT12H") == dt.timedelta(days=1, hours=12)
    assert parse_duration("PT30M") == dt.timedelta(minutes=30)
    with pytest.raises(ValueError):
        parse_duration("P")


def test_item9_fires_whether_the_device_keys_it_by_loinc_code_or_alias(now: dt.datetime) -> None:
    by_code = phq9(19, 6, item9=None).model_copy(update={"flagged_items": {"44260-8": 2}})  # as the edge sends it
    h = PatientHistory("p1", received(summary(19, 0.1, surveys=[by_code])))
    (d,) = [d for d in ENGINE.evaluate(h, now) if d.rule_id == "item9-positive"]
    assert "answered 2 on 2026-11-19" in d.rationale


def test_an_unworn_day_is_a_data_gap_never_risk(now: dt.datetime) -> None:
    sleep_shift = Deviation(biomarker="sleep_midpoint", family="sleep", unit="h", value=-5.7, baseline=3.5,
                            robust_z=-21.2, days=20, text="sleep midpoint around 18:18, usually 03:30 (9 h 12 min "
                            "earlier), far outside this patient's usual range")
    worn_days = [summary(d, 0.2) for d in range(12, 19)]
    unworn = summary(19, 0.9, worn=0.05, deviations=[sleep_shift])  # a watch on a table: high risk, wild sleep
    fired = _fired(PatientHistory("p1", received(*worn_days, unworn)), now)
    assert fired == {"device-not-worn": "info"}
    (d,) = ENGINE.evaluate(PatientHistory("p1", received(*worn_days, unworn)), now)
    assert "1 day(s) since 2026-11-19" in d.rationale and "latest coverage 5%" in d.rationale
    assert d.evidence.probability is None and d.evidence.deviations == [], "no risk quoted from an unworn day"
    # the same day worn: the risk and the sleep shift are read
    assert {"rising-risk", "sleep-shift"} <= set(_fired(PatientHistory("p1", received(*worn_days, summary(
        19, 0.9, deviations=[sleep_shift.model_copy(update={"days": 20})]))), now))


def test_days_without_wear_count_towards_a_lost_signal(now: dt.datetime) -> None:
    days = [summary(d, 0.2) for d in range(10, 13)] + [summary(d, 0.8, worn=0.1) for d in range(13, 20)]
    fired = _fired(PatientHistory("p1", received(*days)), now)
    assert fired == {"signal-lost-week": "urgent"}, "a week of summaries from an unworn watch is a week without data"


def test_risk_rationale_says_which_interval_and_never_shows_a_degenerate_one(now: dt.datetime) -> None:
    (d,) = [d for d in ENGINE.evaluate(PatientHistory("p1", received(summary(19, 0.55, width=0.0))), now)
            if d.rule_id == "rising-risk"]
    assert "55%" in d.rationale and "55%-55%" not in d.rationale
    assert "no interval: too few worn days to estimate one" in d.rationale
    (d,) = [d for d in ENGINE.evaluate(PatientHistory("p1", received(summary(19, 0.55))), now)
            if d.rule_id == "rising-risk"]
    assert "(90% conformal interval 45%-65%)" in d.rationale
