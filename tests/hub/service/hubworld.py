"""Builders for hub service tests: a clinic, consenting patients with enrolled devices, sealed summaries."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from mindbridge.hub.consent_registry import ConsentRegistry, enrol
from mindbridge.hub.service import Hub
from mindbridge.privacy.consent import Scope, StatusList, issue_grant, new_status_list
from mindbridge.privacy.envelope import Recipient, seal
from mindbridge.privacy.keys import Identity
from mindbridge.privacy.rotation import DeviceList
from mindbridge.summary import Interval, RiskSummary, SurveyScore

CLINIC_DID = "did:web:clinic.example.org:hub"
BACKENDS = ["sqlite", "postgresql"]
SCOPE = Scope.of(["sleep", "activity"], ["risk", "deviations", "coverage", "surveys"])


def pg_schema_url(database: str) -> str:
    """A new, empty schema in the session database, as a URL whose search_path is that schema."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{database.replace('postgresql://', 'postgresql+psycopg://')}?options=-csearch_path%3D{schema}"


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recipient_of(clinic: Identity) -> Recipient:
    """Where devices seal to: the clinic's key-agreement key."""
    assert clinic.agreement is not None
    return Recipient(f"{clinic.did}#kex", clinic.agreement.public_key())


def summary_on(patient: str, day: dt.date, p: float = 0.3, surveys: list[SurveyScore] | None = None,
               created: dt.datetime | None = None) -> RiskSummary:
    """A weekly-window summary ending on `day` with probability `p`."""
    return RiskSummary(subject=patient, window_start=day - dt.timedelta(days=6), window_end=day,
                       created_at=created or dt.datetime.combine(day, dt.time(21), dt.UTC), model_id="mb-test",
                       model_version="1.0.0", probability=p,
                       interval=Interval(lower=max(0.0, p - 0.1), upper=min(1.0, p + 0.1)),
                       risk_band="high" if p >= 0.6 else "moderate" if p >= 0.3 else "low",
                       coverage={"sleep": 0.9, "activity": 0.95}, surveys=surveys or [])


def phq9(day: dt.date, total: float, item9: int) -> SurveyScore:
    """A PHQ-9 administration with its item 9 answer."""
    return SurveyScore(instrument="PHQ-9", loinc="44261-6", date=day, total=total, flagged_items={"item9": item9})


@dataclass(repr=False)
class Kit:
    """A patient, their enrolled device, their status list and a treatment grant to the clinic."""

    patient: Identity
    device: Identity
    devices: DeviceList
    status: StatusList
    grant: str
    now: dt.datetime
    seq: int = 0
    lists_signed: int = 0

    @property
    def did(self) -> str:
        """The patient's DID."""
        return self.patient.did

    def device_list(self) -> str:
        """The signed device list."""
        return self.devices.sign(self.patient)

    def status_list(self, revoke: bool = False) -> str:
        """The signed status list, with the grant's bit set if `revoke`."""
        if revoke:
            self.status = self.status.revoke(7)
        self.lists_signed += 1  # each list is newer than the last, so the hub keeps it
        return self.status.sign(self.patient, self.now - dt.timedelta(minutes=10 - self.lists_signed))

    def seal(self, summary: RiskSummary, to: Recipient, now: dt.datetime | None = None,
             seq: int | None = None) -> bytes:
        """A sealed envelope from the device (next sequence number unless given)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        return seal(summary, self.device, to, seq, now or self.now)

    def day(self, day: dt.date, to: Recipient, p: float = 0.3, surveys: list[SurveyScore] | None = None) -> bytes:
        """A sealed summary ending on `day`."""
        return self.seal(summary_on(self.did, day, p, surveys, self.now), to)


def make_kit(now: dt.datetime, clinic: str = CLINIC_DID, grant: bool = True) -> Kit:
    """A consenting patient (unless `grant` is False) with one device enrolled a month ago."""
    patient = Identity.generate("patient")
    device = Identity.generate("device", patient=patient.did)
    devices = DeviceList(patient.did, 0).enrol(device.did, now - dt.timedelta(days=30))
    status = new_status_list(patient.did)
    token = issue_grant(patient, clinic, "treatment", SCOPE, now + dt.timedelta(days=90), status.id, 7,
                        now - dt.timedelta(days=1)) if grant else ""
    return Kit(patient, device, devices, status, token, now)


def register(hub: Hub, kits: list[Kit], now: dt.datetime) -> None:
    """Enrol each kit's patient with their device list, status list and (if any) grant, in-process."""
    with hub.sessions() as s:
        registry = ConsentRegistry(s, hub.clinic.did)
        for k in kits:
            enrol(s, k.device_list(), now)
            registry.update_status(k.status_list())
            if k.grant:
                registry.add_grant(k.grant, now)
        s.commit()


@contextmanager
def serving(db_url: str, key: Path, passphrase: Path,
            workers: int = 1) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m mindbridge.hub serve` in its own process; yields it and its URL once healthy."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mindbridge.hub", "serve", "--db", db_url, "--clinic-key", str(key),
                             "--passphrase-file", str(passphrase), "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hub exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hub did not become healthy")
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
