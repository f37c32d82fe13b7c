"""Group-committed intake: concurrent envelopes share transactions and each is stored and audited exactly
once; a batch decides exact retries, replays and refusals in arrival order; the cached registry never
outlives a change: a revocation committed after an envelope was opened but before its batch commits
refuses it, a grant that arrives after a refusal is honoured at once, and both hold across worker
processes."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import httpx
import pytest
from hubworld import make_kit, recipient_of, register, serving, summary_on
from sqlalchemy import func, select

from mindbridge.hub import audit
from mindbridge.hub.consent_registry import ConsentRegistry
from mindbridge.hub.db import AuditRow, EnvelopeRow, ReplayHighestRow
from mindbridge.hub.group_commit import GroupCommit
from mindbridge.hub.intake_batch import Candidate, Refusal, Refused, write_batch
from mindbridge.hub.service import Hub, Settings
from mindbridge.privacy.keys import Identity, save


def _count(hub: Hub, table: type[object]) -> int:
    with hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_concurrent_envelopes_share_commits_and_each_is_stored_and_audited_once(
        hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    kits = [make_kit(now) for _ in range(6)]
    register(hub, kits, now)
    to = recipient_of(clinic)
    streams = [[k.day(now.date() - dt.timedelta(days=d), to) for d in range(8, 0, -1)] for k in kits]
    admitted = [[hub.intake.admit(e, now) for e in stream] for stream in streams]  # the cryptography first
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(len(kits))

    def device(mine: list) -> None:
        barrier.wait()
        futures = [hub.intake.submit(a) for a in mine]  # a device's envelopes in order, all in flight at once
        results.extend((f.result()[0].envelope_id, f.result()[1]) for f in futures)

    before = hub.intake.writer.counters.batches
    threads = [threading.Thread(target=device, args=(a,)) for a in admitted]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    batches = hub.intake.writer.counters.batches - before
    assert len(results) == 48 and all(new for _, new in results) and len({i for i, _ in results}) == 48
    assert batches < 48, f"commits are shared ({batches} transactions for 48 envelopes)"
    assert _count(hub, EnvelopeRow) == 48
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "intake")) == 48
        assert audit.verify(s).ok
        highest = dict(s.execute(select(ReplayHighestRow.sender, ReplayHighestRow.seq)).all())
    assert highest == {k.device.did: 8 for k in kits}, "each device's sequence ends at its last envelope"


def test_one_batch_decides_retries_replays_and_refusals_in_arrival_order(
        hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    kit, stranger = make_kit(now), make_kit(now, grant=False)
    register(hub, [kit, stranger], now)
    to = recipient_of(clinic)
    first = hub.intake.admit(kit.day(now.date(), to), now)
    reused = hub.intake.admit(kit.seal(summary_on(kit.did, now.date(), p=0.8), to, seq=kit.seq), now)  # same seq
    later = hub.intake.admit(kit.day(now.date(), to), now)
    refused = hub.intake.admit(stranger.day(now.date(), to), now)
    assert isinstance(first, Candidate) and isinstance(reused, Candidate) and isinstance(refused, Refusal)
    assert isinstance(later, Candidate)
    with hub.engine.begin() as db:
        outcomes = write_batch(db, [first, first, reused, refused, later], hub.intake.cache)
    (receipt, new), (again, retry_new), replay, no_consent, (_, later_new) = outcomes  # type: ignore[misc]
    assert new and not retry_new and again == receipt, "a copy in the same batch gets the same receipt"
    assert isinstance(replay, Refused) and replay.code == "replay"
    assert isinstance(no_consent, Refused) and no_consent.code == "consent"
    assert later_new, "a higher sequence number after a refused one is accepted"
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EnvelopeRow)) == 2
        entries = [(r.outcome, r.entity) for r in s.scalars(select(AuditRow).where(AuditRow.action == "intake")
                                                            .order_by(AuditRow.seq))]
        assert audit.verify(s).ok
    assert [o for o, _ in entries] == ["ok", "refused", "refused", "ok"], "audited in arrival order"


def test_revocation_between_opening_and_commit_refuses_the_envelope(
        hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    kit = make_kit(now)
    register(hub, [kit], now)
    to = recipient_of(clinic)
    assert hub.receive(kit.day(now.date(), to), now)[1], "accepted: the cache now holds the patient's consent"
    opened = hub.intake.admit(kit.day(now.date(), to), now)
    assert isinstance(opened, Candidate), "opened against the cached, still valid consent"
    with hub.sessions() as s:  # the revocation commits before the envelope's batch does
        ConsentRegistry(s, clinic.did).update_status(kit.status_list(revoke=True))
        s.commit()
    with pytest.raises(Refused) as refused:
        hub.intake.submit(opened).result(30)
    assert refused.value.code == "consent-revoked"
    assert _count(hub, EnvelopeRow) == 1, "nothing of the refused envelope is stored"
    with pytest.raises(Refused, match="revoked"):
        hub.receive(kit.day(now.date(), to), now)


def test_a_grant_after_a_refusal_is_honoured_at_once(hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    kit = make_kit(now)
    grant, kit.grant = kit.grant, ""
    register(hub, [kit], now)
    to = recipient_of(clinic)
    with pytest.raises(Refused, match="no consent"):
        hub.receive(kit.day(now.date(), to), now)  # the cache now remembers "no grant"
    with hub.sessions() as s:
        ConsentRegistry(s, clinic.did).add_grant(grant, now)
        s.commit()
    assert hub.receive(kit.day(now.date(), to), now)[1]


def test_group_commit_isolates_an_item_whose_write_fails(hub: Hub) -> None:
    def write(db: object, items: list[str]) -> list[str | Exception]:
        if "poison" in items:
            raise ValueError("this item cannot be written")
        return [i.upper() for i in items]

    writer: GroupCommit[str, str] = GroupCommit(hub.engine, write, lambda items, outcomes: None)  # type: ignore[arg-type]
    try:
        futures = [writer.submit(i) for i in ("a", "poison", "b", "c")]
        assert [f.result(30) for f in futures if f is not futures[1]] == ["A", "B", "C"]
        with pytest.raises(ValueError, match="cannot be written"):
            futures[1].result(30)
    finally:
        writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit("late")


@pytest.mark.slow
def test_revocation_reaches_every_worker_process(db_url: str, clinic: Identity, tmp_path: Path,
                                                 now: dt.datetime) -> None:
    key, passphrase = tmp_path / "clinic.json", tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    save(clinic, key, "correct horse battery staple", n=2**12)
    kit, to = make_kit(now), recipient_of(clinic)
    hub = Hub.start(Settings(database_url=db_url), clinic)
    register(hub, [kit], now)
    hub.close()
    with serving(db_url, key, passphrase, workers=2) as (_, url), httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(6):  # spread over both workers: each caches the patient's consent
            assert client.post("/intake", content=kit.day(now.date(), to)).status_code == 201
        assert client.post("/consents/status", json={"status_list": kit.status_list(revoke=True)}).status_code == 201
        refused = [client.post("/intake", content=kit.day(now.date(), to)) for _ in range(6)]
    assert [r.status_code for r in refused] == [403] * 6
    assert {r.json()["error"] for r in refused} == {"consent-revoked"}


def test_a_change_to_one_patient_keeps_the_others_cached(hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    mine, newcomer = make_kit(now), make_kit(now)
    register(hub, [mine], now)
    to = recipient_of(clinic)
    assert hub.receive(mine.day(now.date(), to), now)[1]
    cached = hub.intake.cache._entries[mine.did]
    register(hub, [newcomer], now)  # enrolment, status list and grant: three changes, all the newcomer's
    assert hub.receive(mine.day(now.date(), to), now)[1] and hub.receive(newcomer.day(now.date(), to), now)[1]
    assert hub.intake.cache._entries[mine.did] is cached, "only the changed patient's entry was dropped"
    with hub.sessions() as s:
        ConsentRegistry(s, clinic.did).update_status(mine.status_list(revoke=True))
        s.commit()
    with pytest.raises(Refused, match="revoked"):
        hub.receive(mine.day(now.date(), to), now)


def test_a_caller_that_gave_up_is_left_out_and_the_writer_carries_on(hub: Hub) -> None:
    first_batch_started, release = threading.Event(), threading.Event()

    def write(db: object, items: list[str]) -> list[str | Exception]:
        if "slow" in items:
            first_batch_started.set()
            release.wait(30)
        return [i.upper() for i in items]

    writer: GroupCommit[str, str] = GroupCommit(hub.engine, write, lambda items, outcomes: None)  # type: ignore[arg-type]
    try:
        slow = writer.submit("slow")
        assert first_batch_started.wait(30)
        gave_up, after = writer.submit("gave-up"), writer.submit("after")
        assert gave_up.cancel(), "still queued behind the slow batch, so it can be cancelled"
        release.set()
        assert slow.result(30) == "SLOW" and after.result(30) == "AFTER"
        assert writer.counters.items == 2, "the cancelled item was not written"
    finally:
        release.set()
        writer.close()


def test_a_receipt_says_when_the_summary_lies_before_the_active_window(hub: Hub, clinic: Identity,
                                                                       now: dt.datetime) -> None:
    kit, to = make_kit(now), recipient_of(clinic)
    register(hub, [kit], now)
    old = kit.day(now.date() - dt.timedelta(days=hub.settings.history_days + 30), to)  # a recording from long ago
    stored, new = hub.receive(old, now)
    assert new and "before the hub's active window of the last 90 days" in stored.note
    assert "no directive, queue item or patient page will read it" in stored.note
    assert hub.receive(old, now) == (stored, False), "an exact retry gets the same receipt, note included"
    recent, _ = hub.receive(kit.day(now.date(), to), now)
    assert recent.note == ""
