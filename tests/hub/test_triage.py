"""Triage: merging, hysteresis-free clearing, escalation, snooze rules, budgets, override statistics."""

from __future__ import annotations

import datetime as dt

import pytest
from hub_builders import phq9, received, summary
from hypothesis import given
from hypothesis import strategies as st

from mindbridge.hub.pathways import PathwayEngine, PatientHistory
from mindbridge.hub.triage import (
    Feedback,
    QueueItem,
    TriageError,
    TriagePolicy,
    acknowledge,
    deliver,
    escalate,
    merge,
    override_rates,
    rank,
    resolve_cleared,
    snooze,
)
from mindbridge.summary import TIERS, Directive, Evidence

ENGINE = PathwayEngine.from_file()
POLICY = TriagePolicy.from_file()
NEVER = frozenset(r.id for r in ENGINE.pathway.rules if r.never_suppressed)
H = dt.timedelta(hours=1)


def _directive(patient: str, action: str, tier: str, now: dt.datetime, rule: str = "r", n: int = 0) -> Directive:
    return Directive(id=f"d-{patient}-{action}-{tier}-{n}", patient=patient, action=action, action_text="do it",
                     tier=tier, due=now + 24 * H, rationale="because", rule_id=rule,  # type: ignore[arg-type]
                     evidence=Evidence(window_start=now.date(), window_end=now.date()),
                     pathway_id="p", pathway_version="1", created_at=now)


def test_directives_for_one_patient_and_action_merge(now: dt.datetime) -> None:
    q = merge([], [_directive("p1", "contact_patient", "routine", now)], now)
    q = merge(q, [_directive("p1", "contact_patient", "urgent", now, n=1),
                  _directive("p2", "contact_patient", "routine", now)], now + H)
    assert len(q) == 2
    p1 = next(i for i in q if i.patient == "p1")
    assert p1.tier == "urgent" and len(p1.directive_ids) == 2
    again = merge(q, [p1.directive], now + 2 * H)
    assert again == q, "the same directive twice changes nothing"


def test_item9_reopens_a_snoozed_item_and_cannot_be_snoozed(now: dt.datetime) -> None:
    hist = PatientHistory("p1", received(summary(19, 0.1, surveys=[phq9(19, 8, item9=2)])))
    directives = ENGINE.evaluate(hist, now)
    q = merge([], directives, now, NEVER)
    (item,) = [i for i in q if i.action == "safety_assessment"]
    assert item.never_suppressed and item.tier == "critical"
    with pytest.raises(TriageError, match="never-suppressed"):
        snooze(item, now + H, "busy", POLICY, now)


def test_snooze_rules(now: dt.datetime) -> None:
    (item,) = merge([], [_directive("p1", "review_at_next_visit", "routine", now)], now)
    with pytest.raises(TriageError, match="reason"):
        snooze(item, now + H, "  ", POLICY, now)
    with pytest.raises(TriageError, match="at most P7D"):
        snooze(item, now + dt.timedelta(days=8), "on leave", POLICY, now)
    snoozed = snooze(item, now + 2 * H, "patient seen today", POLICY, now)
    assert not snoozed.is_active(now + H) and snoozed.is_active(now + 3 * H)
    reopened = merge([snoozed], [_directive("p1", "review_at_next_visit", "urgent", now, n=2)], now + H)
    assert reopened[0].status == "open" and reopened[0].tier == "urgent"


def test_unacknowledged_items_escalate_once_per_period(now: dt.datetime) -> None:
    (item,) = merge([], [_directive("p1", "contact_patient", "urgent", now)], now)
    assert escalate([item], POLICY, now + 7 * H)[0].tier == "urgent"
    (up,) = escalate([item], POLICY, now + 8 * H)
    assert up.tier == "critical" and up.escalations == 1 and "escalated" in up.history[-1]
    assert escalate([acknowledge(item, "dr-a", now + H)], POLICY, now + 9 * H)[0].tier == "urgent"


def test_budget_critical_bypasses_and_nothing_is_dropped(now: dt.datetime) -> None:
    ds = [_directive(f"p{k}", "contact_patient", "urgent", now) for k in range(5)]
    ds += [_directive("p9", "safety_assessment", "critical", now), _directive("p8", "note_response", "info", now)]
    q = merge([], ds, now)
    out = deliver(q, POLICY, interrupted_today=1, now=now)
    assert [i.tier for i in out.interruptive] == ["critical", "urgent", "urgent"]
    assert len(out.interruptive) + len(out.digest) == len(q)
    assert [rank(i.tier) for i in out.digest] == sorted(rank(i.tier) for i in out.digest)
    spent = deliver(q, POLICY, interrupted_today=10, now=now)
    assert [i.tier for i in spent.interruptive] == ["critical"]


def test_cleared_routine_items_resolve_but_urgent_stay(now: dt.datetime) -> None:
    q = merge([], [_directive("p1", "review_at_next_visit", "routine", now),
                   _directive("p1", "contact_patient", "urgent", now)], now)
    after = {i.action: i.status for i in resolve_cleared(q, firing=set(), now=now + H)}
    assert after == {"review_at_next_visit": "resolved", "contact_patient": "open"}


def test_override_rates_rank_noisy_rules(now: dt.datetime) -> None:
    fb = [Feedback("i1", "sleep-shift", "overridden", "not relevant", now)] * 3
    fb += [Feedback("i2", "sleep-shift", "accepted", "", now), Feedback("i3", "item9-positive", "accepted", "", now)]
    stats = override_rates(fb, ENGINE.pathway)
    assert stats[0].rule_id == "sleep-shift" and stats[0].override_rate == 0.75
    assert {s.rule_id for s in stats} >= {r.id for r in ENGINE.pathway.rules}


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a_x", "b_y"]), st.sampled_from(TIERS)),
                max_size=40), st.integers(0, 10))
def test_every_active_item_is_delivered_exactly_once(rows: list[tuple[int, str, str]], spent: int) -> None:
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    q: list[QueueItem] = []
    for n, (p, action, tier) in enumerate(rows):
        q = merge(q, [_directive(f"p{p}", action, tier, now, n=n)], now)
    out = deliver(q, POLICY, spent, now)
    ids = [i.id for i in out.interruptive + out.digest]
    assert sorted(ids) == sorted(i.id for i in q) and len(set(ids)) == len(ids)
    non_critical = [i for i in out.interruptive if i.tier != "critical"]
    assert len(non_critical) <= max(0, POLICY.interruptive_budget_per_day - spent)
    assert len({(i.patient, i.action) for i in q}) == len(q)
