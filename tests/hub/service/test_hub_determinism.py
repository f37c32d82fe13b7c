"""The same data gives the same queue: directives are a function of the stored summaries, the pathway version
and the cycle's `now`, not of the order envelopes arrive in nor of when cycles run between them. A directive
raised on data that a later arrival changed is superseded (kept, audited, no longer in force)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hubworld import BACKENDS, Kit, make_kit, pg_schema_url, phq9, recipient_of, register, summary_on
from sqlalchemy import select

from mindbridge.hub import repository
from mindbridge.hub.db import AuditRow, DirectiveRow, sqlite_url
from mindbridge.hub.service import Hub, Settings
from mindbridge.privacy.keys import Identity

DAYS = 16


def _risk(patient: int, day: int) -> float:
    """A patient's risk on a day: one steady, one rising into a sustained high, one swinging around 0.5."""
    return [0.2, min(0.9, 0.15 + 0.06 * day), 0.55 if day % 3 else 0.3][patient]


def _envelopes(kits: list[Kit], clinic: Identity, now: dt.datetime,
               shuffle: random.Random | None = None) -> list[tuple[str, bytes]]:
    """Every patient's daily summaries over `DAYS` days ending today (a PHQ-9 on two days), each device sealing
    its days in date order, or in a shuffled order (a backlog uploaded as it was found)."""
    to, out = recipient_of(clinic), []
    for n, kit in enumerate(kits):
        order = list(range(DAYS))
        if shuffle is not None:
            shuffle.shuffle(order)
        for k in order:
            day = now.date() - dt.timedelta(days=DAYS - 1 - k)
            surveys = [phq9(day, 16 + n, 1 if n == 2 and k == 9 else 0)] if k in (4, 9) else None
            out.append((kit.did, kit.seal(summary_on(kit.did, day, _risk(n, k), surveys, kit.now), to)))
    return out


def _by_content(directive: dict[str, Any], days: dict[str, str]) -> str:
    """A directive without what names its envelopes (their ids differ between two sealings of the same data)."""
    evidence = directive["evidence"] | {"envelope_ids": sorted(days[e] for e in directive["evidence"]["envelope_ids"])}
    return json.dumps(directive | {"id": None, "evidence": evidence}, sort_keys=True)


def _run(db_url: str, clinic: Identity, kits: list[Kit], envelopes: list[tuple[str, bytes]], now: dt.datetime,
         cycle_every: int) -> tuple[list[str], set[tuple[str, str, str]], int]:
    """Feed the envelopes in the order given, a cycle (as of `now`) after every `cycle_every`, then one more."""
    hub = Hub.start(Settings(database_url=db_url), clinic)
    hub.worker.close()  # cycles run only where this test says
    try:
        register(hub, kits, now)
        patients = [k.did for k in kits]
        for n, (_, data) in enumerate(envelopes, start=1):
            hub.receive(data, now)
            if n % cycle_every == 0:
                hub.cycle.run(patients, now)
        hub.cycle.run(patients, now)
        with hub.sessions() as s:
            days = {r.envelope_id: f"{p[-6:]}@{r.summary.window_end}" for p in patients
                    for r in repository.history(s, p, now, 90)}
            directives = sorted(_by_content(d.model_dump(mode="json", exclude={"created_at", "due"}), days)
                                for p in patients for d in repository.directives_of(s, p))
            items = {(i.patient, i.action, str(i.tier)) for i in repository.open_items(s, patients)}
            superseded = len(s.scalars(select(DirectiveRow.id).where(DirectiveRow.superseded_at.is_not(None))).all())
            named = s.scalars(select(AuditRow.detail).where(AuditRow.detail.contains('"superseded"'))).all()
            assert bool(named) == bool(superseded), "every supersession is audited"
    finally:
        hub.close()
    return directives, items, superseded


def _interleave(envelopes: list[tuple[str, bytes]], rng: random.Random) -> list[tuple[str, bytes]]:
    """The devices' envelopes merged in a random interleaving, each device's own order (its sequence) kept."""
    queues: dict[str, list[tuple[str, bytes]]] = {}
    for e in envelopes:
        queues.setdefault(e[0], []).append(e)
    out = []
    while queues:
        patient = rng.choice(sorted(queues))
        out.append(queues[patient].pop(0))
        if not queues[patient]:
            del queues[patient]
    return out


@pytest.fixture(params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path: Any) -> Callable[[str], str]:
    """A new database URL per name: SQLite files, or empty PostgreSQL schemas."""
    if request.param == "sqlite":
        return lambda name: sqlite_url(tmp_path / f"{name}.sqlite")
    database = request.getfixturevalue("pg_database")
    return lambda name: pg_schema_url(database)


def test_arrival_order_and_cycle_timing_never_change_the_directives(databases: Callable[[str], str],
                                                                     clinic: Identity) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    kits = [make_kit(now) for _ in range(3)]
    daily = _envelopes(kits, clinic, now)
    in_order = sorted(daily, key=lambda e: (daily.index(e) % DAYS, e[0]))  # day by day, as devices send
    backlog = _interleave(_envelopes(kits, clinic, now, random.Random(7)), random.Random(11))  # days shuffled
    first, first_items, _ = _run(databases("a"), clinic, kits, in_order, now, cycle_every=1)
    second, second_items, superseded = _run(databases("b"), clinic, kits, backlog, now, cycle_every=5)
    third, third_items, _ = _run(databases("c"), clinic, kits, daily, now, cycle_every=DAYS - 3)
    rules = {json.loads(d)["rule_id"] for d in first}
    assert {"item9-positive", "phq9-moderately-severe", "high-risk-persistent", "rising-risk"} <= rules
    assert first == second == third
    assert first_items == second_items == third_items
    assert superseded > 0, "cycles on partial data raised directives that later arrivals superseded"
