"""Storage on SQLite (WAL) and PostgreSQL: migrations, the audit chain and its tamper detection through
`mindbridge hub audit verify`, the database replay guard against the reference one, hashed tokens, and
concurrent duplicate intakes."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable

import pytest
from hubworld import make_kit, recipient_of, register
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, inspect, select, text, update
from typer.testing import CliRunner

from mindbridge.hub import audit
from mindbridge.hub.auth import NotAuthenticated, authenticate, issue_token
from mindbridge.hub.commands import hub_app
from mindbridge.hub.db import AuditRow, EnvelopeRow, UserRow, make_engine, migrate
from mindbridge.hub.intake_batch import BatchReplayGuard, lock_registry
from mindbridge.hub.service import Hub
from mindbridge.privacy.errors import ReplayDetected
from mindbridge.privacy.keys import Identity
from mindbridge.privacy.replay import MemoryReplayGuard


def test_migrations_create_every_table_and_run_again_harmlessly(hub: Hub, db_url: str) -> None:
    migrate(hub.engine)
    tables = set(inspect(hub.engine).get_table_names())
    assert {"envelopes", "replay_highest", "replay_seen", "audit_log", "audit_head", "queue_items", "consents",
            "users", "panels", "feedback", "directives", "patients", "alembic_version"} <= tables
    if db_url.startswith("sqlite"):
        with hub.engine.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def _fill_audit(hub: Hub, n: int) -> None:
    with hub.sessions() as s:
        for i in range(n):
            audit.record(s, f"user{i}", "read", f"Patient/p{i}", "ok", {"i": i})
        s.commit()


def _verify(db_url: str) -> tuple[int, str]:
    result = CliRunner().invoke(hub_app, ["audit", "verify", "--db", db_url])
    return result.exit_code, result.output


def test_audit_verify_detects_an_altered_and_a_deleted_entry(hub: Hub, db_url: str) -> None:
    _fill_audit(hub, 6)
    code, out = _verify(db_url)
    assert code == 0 and "6 entries" in out
    with hub.sessions() as s:
        s.execute(update(AuditRow).where(AuditRow.seq == 3).values(outcome="denied"))
        s.commit()
    code, out = _verify(db_url)
    assert code == 1 and "entry 3 was altered" in " ".join(out.split())
    with hub.sessions() as s:
        s.execute(update(AuditRow).where(AuditRow.seq == 3).values(outcome="ok"))
        s.commit()
    assert _verify(db_url)[0] == 0, "restoring the entry restores the chain"
    with hub.sessions() as s:
        s.execute(delete(AuditRow).where(AuditRow.seq == 5))
        s.commit()
    code, out = _verify(db_url)
    assert code == 1 and "entry 5 is missing" in " ".join(out.split())


def test_audit_verify_detects_a_truncated_tail_and_an_inserted_entry(hub: Hub) -> None:
    _fill_audit(hub, 4)
    with hub.sessions() as s:
        s.execute(delete(AuditRow).where(AuditRow.seq == 4))
        s.commit()
        verdict = audit.verify(s)
    assert not verdict.ok and "deleted from the end" in verdict.problem
    with hub.sessions() as s:
        forged = AuditRow(seq=4, at=dt.datetime.now(dt.UTC), actor="mallory", action="read", entity="Patient/x",
                          outcome="ok", detail="{}", prev_hash="0" * 64)
        forged.hash = audit.entry_hash(forged.prev_hash, forged)
        s.add(forged)
        s.commit()
        verdict = audit.verify(s)
    assert not verdict.ok and verdict.first_bad == 4 and "does not follow" in verdict.problem


def test_audit_export_is_shaped_for_fhir_audit_event(hub: Hub) -> None:
    _fill_audit(hub, 2)
    with hub.sessions() as s:
        events = audit.export(s, since=1)
    assert [e["id"] for e in events] == ["audit-2"]
    assert events[0]["action"] == "R" and events[0]["outcome"] == "0" and str(events[0]["recorded"]).endswith("Z")


events = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 6), st.sampled_from(["e1", "e2", "e3", "e4"])),
                  max_size=12)


def _decide(record: Callable[[str, int, str], None], events: list[tuple[str, int, str]]) -> list[bool]:
    """Whether `record` accepts each event in turn (False where it raises ReplayDetected)."""
    decisions = []
    for sender, seq, envelope in events:
        try:
            record(sender, seq, envelope)
            decisions.append(True)
        except ReplayDetected:
            decisions.append(False)
    return decisions


def _decide_in_batches(hub: Hub, events: list[tuple[str, int, str]], per_batch: int) -> list[bool]:
    """Accept or refuse each event with the batch replay guard, `per_batch` events per transaction."""
    decisions = []
    for start in range(0, len(events), per_batch):
        chunk = events[start:start + per_batch]
        with hub.engine.begin() as db:
            lock_registry(db)
            guard = BatchReplayGuard(db, {s for s, _, _ in chunk}, {e for _, _, e in chunk})
            decisions += _decide(guard.record, chunk)
            guard.flush()
    return decisions


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events, st.integers(1, 5))
def test_database_replay_guard_decides_like_the_reference_guard(hub: Hub, events: list[tuple[str, int, str]],
                                                                per_batch: int) -> None:
    run = uuid.uuid4().hex[:8]  # the database outlives one example: fresh names per example
    events = [(f"did:key:z{run}{sender}", seq, f"{run}-{envelope}") for sender, seq, envelope in events]
    reference = MemoryReplayGuard()
    expected = _decide(reference.record, events)
    assert _decide_in_batches(hub, events, per_batch) == expected
    with hub.engine.connect() as db:
        stored = BatchReplayGuard(db, {s for s, _, _ in events}, {e for _, _, e in events}).state()
    assert stored == reference.state(), "what the batches wrote is the reference guard's state"


def test_tokens_are_stored_hashed_and_checked(hub: Hub) -> None:
    with hub.sessions() as s:
        token = issue_token(s, "alice", "clinician")
        s.commit()
        row = s.get(UserRow, "alice")
        assert row is not None and token not in (row.token_sha256, row.name)
        assert authenticate(s, f"Bearer {token}").role == "clinician"
        with pytest.raises(NotAuthenticated):
            authenticate(s, f"Bearer {token[:-1]}x")
        renewed = issue_token(s, "alice", "clinician")
        s.commit()
        with pytest.raises(NotAuthenticated):
            authenticate(s, f"Bearer {token}")
        assert authenticate(s, f"Bearer {renewed}").name == "alice"


def test_the_same_envelope_sent_twice_at_once_is_stored_once(hub: Hub, clinic: Identity) -> None:
    now = dt.datetime.now(dt.UTC)
    kit = make_kit(now)
    register(hub, [kit], now)
    envelope = kit.day(now.date(), recipient_of(clinic))
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        receipt, new = hub.intake.receive(envelope, now)
        results.append((receipt.envelope_id, new))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4 and len({r[0] for r in results}) == 1
    assert sum(new for _, new in results) == 1, "exactly one of the concurrent copies is the new one"
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EnvelopeRow)) == 1


def test_an_in_memory_sqlite_url_and_unknown_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        make_engine("sqlite://")
    with pytest.raises(ValueError, match="unsupported database URL"):
        make_engine("mysql://u@h/db")
