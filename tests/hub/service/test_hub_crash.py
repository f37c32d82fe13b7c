"""Crash safety: a real hub process is SIGKILLed while devices upload; after a restart every envelope the
devices saw acknowledged is stored exactly once, and the unacknowledged ones, sent again, are stored once."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from hubworld import Kit, make_kit, recipient_of, register, serving
from sqlalchemy import func, select

from mindbridge.hub import audit
from mindbridge.hub.db import AuditRow, EnvelopeRow
from mindbridge.hub.service import Hub, Settings
from mindbridge.privacy.keys import Identity, save

DEVICES, PER_DEVICE, KILL_AFTER = 3, 12, 10


def _upload(url: str, envelopes: list[bytes], start: int, acked: dict[bytes, str], stop: threading.Event) -> int:
    """Send envelopes in order from `start`; returns the index of the first one not acknowledged."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(start, len(envelopes)):
            try:
                response = client.post("/intake", content=envelopes[i])
            except httpx.TransportError:
                return i
            assert response.status_code in (200, 201), response.text
            acked[envelopes[i]] = response.json()["envelope_id"]
            if stop.is_set():
                return i + 1
    return len(envelopes)


@pytest.mark.slow
def test_sigkill_during_intake_loses_no_acknowledged_envelope_and_duplicates_none(
        db_url: str, clinic: Identity, tmp_path: Path, now: dt.datetime) -> None:
    key, passphrase = tmp_path / "clinic.json", tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    save(clinic, key, "correct horse battery staple", n=2**12)
    kits: list[Kit] = [make_kit(now) for _ in range(DEVICES)]
    hub = Hub.start(Settings(database_url=db_url), clinic)
    register(hub, kits, now)
    to = recipient_of(clinic)
    streams = [[k.day(now.date() - dt.timedelta(days=PER_DEVICE - d), to) for d in range(PER_DEVICE)] for k in kits]
    acked: dict[bytes, str] = {}
    resume = [0] * DEVICES

    with serving(db_url, key, passphrase) as (proc, url):
        stop = threading.Event()

        def device(n: int) -> None:
            resume[n] = _upload(url, streams[n], 0, acked, stop)

        threads = [threading.Thread(target=device, args=(n,)) for n in range(DEVICES)]
        for t in threads:
            t.start()
        while len(acked) < KILL_AFTER and any(t.is_alive() for t in threads):
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)  # mid-stream: some requests are in flight
        for t in threads:
            t.join(60)
    assert KILL_AFTER <= len(acked) < DEVICES * PER_DEVICE, "the kill happened while devices were still sending"

    with hub.sessions() as s:
        stored = {r.id: r.digest for r in s.scalars(select(EnvelopeRow))}
    assert set(acked.values()) <= set(stored), "every acknowledged envelope survived the kill"

    with serving(db_url, key, passphrase) as (_, url):
        never = threading.Event()
        for n in range(DEVICES):
            resume[n] = _upload(url, streams[n], resume[n], acked, never)
    assert resume == [PER_DEVICE] * DEVICES and len(acked) == DEVICES * PER_DEVICE

    with hub.sessions() as s:
        count = s.scalar(select(func.count()).select_from(EnvelopeRow))
        intakes = s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "intake",
                                                                            AuditRow.outcome == "ok"))
        verdict = audit.verify(s)
        ids = set(s.scalars(select(EnvelopeRow.id)))
    hub.close()
    assert count == DEVICES * PER_DEVICE == intakes, "each envelope stored and audited exactly once"
    assert ids == set(acked.values())
    assert verdict.ok, verdict.problem
