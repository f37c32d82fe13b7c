"""The per-clinician daily budget of interruptive alerts, counted in the database per clinic-local day:
acknowledging alerts does not free the budget, the fourth urgent item of the day waits in the digest,
a critical item still interrupts, and the next local day starts afresh."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hub_builders import NOW, received, summary
from hub_builders import phq9 as phq9_on
from hubworld import make_kit, phq9, recipient_of, register
from sqlalchemy import func, select

from mindbridge.hub import repository
from mindbridge.hub.access import queue_for
from mindbridge.hub.auth import Principal, assign, issue_token
from mindbridge.hub.budget import ration
from mindbridge.hub.db import InterruptionRow
from mindbridge.hub.pathways import PathwayEngine, PatientHistory
from mindbridge.hub.service import Hub, Settings
from mindbridge.hub.triage import QueueItem, TriagePolicy, acknowledge, merge
from mindbridge.privacy.keys import Identity

ZONE = "America/New_York"  # 23:00 local on 24 November is 04:00 UTC on the 25th


def _interrupting(hub: Hub, who: Principal, now: dt.datetime) -> tuple[list[str], list[str]]:
    with hub.sessions() as s:
        delivery = queue_for(s, hub, who, now)
    return [i.patient for i in delivery.interruptive], [i.patient for i in delivery.digest]


def test_fourth_urgent_item_of_the_day_goes_to_the_digest_while_a_critical_one_interrupts(
        db_url: str, clinic: Identity) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    hub = Hub.start(Settings(database_url=db_url, timezone=ZONE, cycle_debounce=0.01), clinic)
    try:
        kits = [make_kit(now) for _ in range(5)]
        register(hub, kits, now)
        alice = Principal("alice", "clinician")
        with hub.sessions() as s:
            issue_token(s, "alice", "clinician")
            for k in kits:
                assign(s, "alice", k.did)
            s.commit()
        to, today = recipient_of(clinic), now.date()
        for k in kits[:3]:  # three severe PHQ-9 scores: three urgent reviews
            hub.receive(k.day(today, to, surveys=[phq9(today, 22, 0)]), now)
        hub.settle()
        first, digest = _interrupting(hub, alice, now)
        assert sorted(first) == sorted(k.did for k in kits[:3]) and digest == []
        with hub.sessions() as s:  # alice deals with all three: the queue empties, the budget does not refill
            for item in repository.open_items(s, [k.did for k in kits[:3]]):
                repository.save_items(s, [acknowledge(item, "alice", now)])
            s.commit()

        hub.receive(kits[3].day(today, to, surveys=[phq9(today, 21, 0)]), now)  # the fourth urgent item
        hub.receive(kits[4].day(today, to, surveys=[phq9(today, 6, 2)]), now)  # item 9 positive: critical
        hub.settle()
        interruptive, digest = _interrupting(hub, alice, now)
        assert interruptive == [kits[4].did], "the critical item interrupts; the budget of 3 is spent"
        assert digest == [kits[3].did], "the fourth urgent item of the day waits in the digest"
        assert _interrupting(hub, alice, now) == (interruptive, digest), "asking again changes nothing"

        local = now.astimezone(ZoneInfo(ZONE))
        tomorrow = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0, 5), local.tzinfo)
        interruptive, digest = _interrupting(hub, alice, tomorrow)
        assert interruptive == [kits[4].did, kits[3].did] and digest == [], "a new local day, a new budget"
        with hub.sessions() as s:
            counted = dict(s.execute(select(InterruptionRow.day, func.count()).group_by(InterruptionRow.day)).all())
        assert counted == {local.date(): 3, local.date() + dt.timedelta(days=1): 1}, "critical items are not counted"
    finally:
        hub.close()


def test_local_day_follows_the_clinic_time_zone(db_url: str, clinic: Identity) -> None:
    hub = Hub.start(Settings(database_url=db_url, timezone=ZONE), clinic)
    try:
        late_evening = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)
        assert hub.local_day(late_evening) == dt.date(2026, 11, 24)
        assert hub.local_day(late_evening + dt.timedelta(hours=1, minutes=1)) == dt.date(2026, 11, 25)
    finally:
        hub.close()


def test_items_already_shown_today_stay_interruptive_without_spending_more() -> None:
    engine, policy = PathwayEngine.from_file(), TriagePolicy.from_file()
    items: list[QueueItem] = []
    for n in range(5):  # five patients with severe PHQ-9 scores: five urgent items
        history = PatientHistory(f"p{n}", received(summary(19, 0.1, surveys=[phq9_on(19, 20 + n % 3)],
                                                           patient=f"p{n}")))
        items = merge(items, engine.evaluate(history, NOW), NOW)
    by_priority = ration(items, policy, set(), NOW).interruptive
    assert len(by_priority) == policy.interruptive_budget_per_day
    shown = {items[-1].id}  # one item was shown earlier today: it stays, and only two more slots remain
    delivery = ration(items, policy, shown, NOW)
    assert items[-1] in delivery.interruptive and len(delivery.interruptive) == policy.interruptive_budget_per_day
    assert len(delivery.digest) == len(items) - policy.interruptive_budget_per_day
    assert ration(items, policy, {i.id for i in items}, NOW).digest == [], "what was shown is never taken back"
