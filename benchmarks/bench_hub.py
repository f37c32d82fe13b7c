"""Hub intake: envelopes/s and p50/p99 latency over real HTTP on loopback, for SQLite and PostgreSQL.

Baseline: opening the same envelopes alone (privacy opener, in-memory roster, consent and replay
state; no HTTP, no database), one thread. Between the two, the same envelopes are taken in-process
(no HTTP) by the intake alone and by the intake plus the directive cycle, to show where the time goes.
Every run checks that the number of envelopes stored equals the number acknowledged.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select

from mindbridge.hub.consent_registry import ConsentRegistry, enrol
from mindbridge.hub.db import EnvelopeRow, sqlite_url
from mindbridge.hub.service import Hub, Settings
from mindbridge.privacy.consent import ConsentBook, Scope, issue_grant, new_status_list
from mindbridge.privacy.envelope import Opener, Recipient, seal
from mindbridge.privacy.keys import Identity, save
from mindbridge.privacy.replay import MemoryReplayGuard
from mindbridge.privacy.rotation import DeviceList, Roster
from mindbridge.summary import Interval, RiskSummary

PATIENTS, PER_PATIENT, CLIENTS, WORKERS = 48, 8, 8, 2
PG_ADMIN = os.environ.get("MINDBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NOW = dt.datetime.now(dt.UTC)
SCOPE = Scope.of(["sleep", "activity"], ["risk", "coverage"])


class Cohort:
    """Patients with one device each, their signed device lists, status lists and grants, and sealed days."""

    def __init__(self, clinic: Identity, patients: int, per_patient: int) -> None:
        assert clinic.agreement is not None
        to = Recipient(f"{clinic.did}#kex", clinic.agreement.public_key())
        self.papers: list[tuple[str, str, str]] = []
        self.streams: list[list[bytes]] = []
        for _ in range(patients):
            patient = Identity.generate("patient")
            device = Identity.generate("device", patient=patient.did)
            status = new_status_list(patient.did)
            grant = issue_grant(patient, clinic.did, "treatment", SCOPE, NOW + dt.timedelta(days=30), status.id, 3,
                                NOW - dt.timedelta(days=1))
            devices = DeviceList(patient.did, 0).enrol(device.did, NOW - dt.timedelta(days=60))
            self.papers.append((devices.sign(patient), status.sign(patient, NOW - dt.timedelta(hours=1)), grant))
            self.streams.append([seal(_summary(patient.did, per_patient - d), device, to, d + 1, NOW)
                                 for d in range(per_patient)])

    @property
    def envelopes(self) -> list[bytes]:
        """Every envelope, each device's in order."""
        return [e for stream in self.streams for e in stream]

    def register(self, hub: Hub) -> None:
        """Enrol every patient at the hub and hand it their status list and grant."""
        with hub.sessions() as s:
            registry = ConsentRegistry(s, hub.clinic.did)
            for devices, status, grant in self.papers:
                enrol(s, devices, NOW)
                registry.update_status(status)
                registry.add_grant(grant, NOW)
            s.commit()


def _summary(patient: str, days_ago: int) -> RiskSummary:
    end = NOW.date() - dt.timedelta(days=days_ago)
    return RiskSummary(subject=patient, window_start=end - dt.timedelta(days=6), window_end=end, created_at=NOW,
                       model_id="bench", model_version="1", probability=0.3,
                       interval=Interval(lower=0.2, upper=0.4), risk_band="moderate",
                       coverage={"sleep": 0.9, "activity": 0.9})


def open_rate(clinic: Identity, cohort: Cohort) -> float:
    """Envelopes/s opened by the privacy opener alone (in-memory state), one thread."""
    roster, book = Roster(), ConsentBook(clinic.did)
    for devices, status, grant in cohort.papers:
        roster.update(devices)
        book.update_status(status)
        book.add_grant(grant)
    opener = Opener.for_clinic(clinic, roster, MemoryReplayGuard(), RiskSummary, book)
    envelopes = cohort.envelopes
    start = time.perf_counter()
    for e in envelopes:
        opener.open(e, NOW)
    return len(envelopes) / (time.perf_counter() - start)


def in_process_rate(url: str, clinic: Identity, cohort: Cohort, cycle: bool) -> float:
    """Envelopes/s taken by the hub in-process (no HTTP), with or without the directive cycle."""
    hub = Hub.start(Settings(database_url=url), clinic)
    cohort.register(hub)
    take = hub.receive if cycle else hub.intake.receive
    envelopes = cohort.envelopes
    start = time.perf_counter()
    for e in envelopes:
        take(e, NOW)
    elapsed = time.perf_counter() - start
    hub.engine.dispose()
    return len(envelopes) / elapsed


@contextmanager
def served(url: str, key: Path, passphrase: str, workers: int) -> Iterator[str]:
    """`python -m mindbridge.hub serve` with `workers` processes on a free port; yields its base URL."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MINDBRIDGE_PASSPHRASE": passphrase}
    proc = subprocess.Popen([sys.executable, "-m", "mindbridge.hub", "serve", "--db", url, "--clinic-key", str(key),
                             "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the hub did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def drive(base: str, streams: list[list[bytes]], clients: int) -> tuple[float, list[float], set[str]]:
    """Send every stream over `clients` connections (each device's envelopes in order); rate, latencies, ids."""
    latencies: list[float] = []
    acked: set[str] = set()
    lock = threading.Lock()

    def client(mine: list[list[bytes]]) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            for day in range(max(map(len, mine), default=0)):
                for stream in mine:
                    start = time.perf_counter()
                    response = http.post("/intake", content=stream[day])
                    took = time.perf_counter() - start
                    response.raise_for_status()
                    with lock:
                        latencies.append(took)
                        acked.add(response.json()["envelope_id"])

    threads = [threading.Thread(target=client, args=(streams[i::clients],)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - start), latencies, acked


@contextmanager
def databases(folder: Path) -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of a fresh SQLite file and, if reachable, a fresh PostgreSQL database (dropped after)."""
    found = [("SQLite (WAL)", sqlite_url(folder / "hub.sqlite"))]
    admin = None
    name = f"mindbridge_bench_{uuid.uuid4().hex[:10]}"
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
        admin.execute(f'CREATE DATABASE "{name}"')
        found.append(("PostgreSQL", f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"))
    except Exception as exc:  # any failure only means "no PostgreSQL here"
        print(f"PostgreSQL not measured: {exc}")
    try:
        yield found
    finally:
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def _stored(url: str, clinic: Identity) -> int:
    hub = Hub.start(Settings(database_url=url), clinic)
    with hub.sessions() as s:
        count = int(s.scalar(select(func.count()).select_from(EnvelopeRow)) or 0)
    hub.engine.dispose()
    return count


def main() -> None:
    """Measure and print intake throughput and latency per database beside the opening-only baseline."""
    clinic = Identity.generate("clinic", web_did="did:web:clinic.example.org:bench")
    cohort = Cohort(clinic, PATIENTS, PER_PATIENT)
    n = PATIENTS * PER_PATIENT
    baseline = open_rate(clinic, cohort)
    print(f"{n} envelopes from {PATIENTS} devices; {CLIENTS} client connections, {WORKERS} uvicorn workers, "
          f"{os.cpu_count()} cores (client and server share them)")
    print(f"{'baseline: open only (no HTTP, no DB), 1 thread':<58}{baseline:>9.0f} env/s")
    with tempfile.TemporaryDirectory() as tmp, databases(Path(tmp)) as dbs:
        key, passphrase = Path(tmp) / "clinic.json", uuid.uuid4().hex
        save(clinic, key, passphrase, n=2**12)
        for name, url in dbs:
            for cycle in (False, True):
                what = "intake + cycle" if cycle else "intake only"
                rate = in_process_rate(_fresh(url, tmp, "inproc"), clinic, Cohort(clinic, PATIENTS // 4, PER_PATIENT),
                                       cycle)
                print(f"{name + ': in-process ' + what + ', 1 thread':<58}{rate:>9.0f} env/s"
                      f"{rate / baseline:>8.2f} × baseline")
            fresh = _fresh(url, tmp, "http")
            hub = Hub.start(Settings(database_url=fresh), clinic)
            cohort.register(hub)
            hub.engine.dispose()
            with served(fresh, key, passphrase, WORKERS) as base:
                rate, latencies, acked = drive(base, cohort.streams, CLIENTS)
            stored = _stored(fresh, clinic)
            cuts = statistics.quantiles(latencies, n=100)
            print(f"{name + ': HTTP intake + cycle':<58}{rate:>9.0f} env/s{rate / baseline:>8.2f} × baseline   "
                  f"p50 {cuts[49] * 1000:.1f} ms  p99 {cuts[98] * 1000:.1f} ms   "
                  f"stored {stored} = acknowledged {len(acked)}: {'yes' if stored == len(acked) == n else 'NO'}")


def _fresh(url: str, tmp: str, tag: str) -> str:
    """A new empty database next to `url` (SQLite file or PostgreSQL schema) for one measurement."""
    if url.startswith("sqlite"):
        return sqlite_url(Path(tmp) / f"{tag}-{uuid.uuid4().hex[:6]}.sqlite")
    import psycopg

    schema = f"b_{tag}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{url.replace('postgresql://', 'postgresql+psycopg://')}?options=-csearch_path%3D{schema}"


if __name__ == "__main__":
    main()
