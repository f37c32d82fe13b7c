"""Hub intake: envelopes/s and p50/p99 latency over real HTTP on loopback, for SQLite and PostgreSQL.

Baseline: opening the same envelopes alone (privacy opener, in-memory roster, consent and replay state;
no HTTP, no database) on one thread, the CPU-bound floor of any intake. Beside it: the intake in-process
(cached registry, group-committed writes, no HTTP), and the served hub (`mindbridge hub serve`, 1 and 2
uvicorn workers) driven by `IN_FLIGHT` concurrent requests (each device's envelopes in order, as a device
sends them). Every HTTP run is then checked: envelopes stored = envelopes acknowledged (by id), one intake
audit entry each, the audit chain intact; and it reports how long the background directive cycles took to
catch up after the last receipt. CPU seconds of the server processes and of this (client) process are
printed beside wall time, with the machine's load, since client and server share its cores with others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mindbridge.hub import audit, repository
from mindbridge.hub.consent_registry import ConsentRegistry, enrol
from mindbridge.hub.db import AuditRow, EnvelopeRow, make_engine, migrate, sessions, sqlite_url
from mindbridge.hub.intake import Intake
from mindbridge.privacy.consent import ConsentBook, Scope, issue_grant, new_status_list
from mindbridge.privacy.envelope import Opener, Recipient, seal
from mindbridge.privacy.keys import Identity, save
from mindbridge.privacy.replay import MemoryReplayGuard
from mindbridge.privacy.rotation import DeviceList, Roster
from mindbridge.summary import Interval, RiskSummary

PATIENTS, PER_PATIENT, IN_FLIGHT, WORKERS = 256, 16, 64, (1, 2)
PG_ADMIN = os.environ.get("MINDBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NOW = dt.datetime.now(dt.UTC)
SCOPE = Scope.of(["sleep", "activity"], ["risk", "coverage"])


class Cohort:
    """Patients with one device each, their signed device lists, status lists and grants, and sealed days."""

    def __init__(self, clinic: Identity, patients: int, per_patient: int) -> None:
        assert clinic.agreement is not None
        to = Recipient(f"{clinic.did}#kex", clinic.agreement.public_key())
        self.clinic = clinic.did
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

    def register(self, factory: sessionmaker[Session]) -> None:
        """Enrol every patient at the hub and hand it their status list and grant."""
        with factory() as s:
            registry = ConsentRegistry(s, self.clinic)
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


def open_rate(clinic: Identity, cohort: Cohort) -> tuple[float, float]:
    """Envelopes/s opened by the privacy opener alone (in-memory state), one thread; and CPU ms each."""
    roster, book = Roster(), ConsentBook(clinic.did)
    for devices, status, grant in cohort.papers:
        roster.update(devices)
        book.update_status(status)
        book.add_grant(grant)
    opener = Opener.for_clinic(clinic, roster, MemoryReplayGuard(), RiskSummary, book)
    envelopes = cohort.envelopes
    start, cpu = time.perf_counter(), time.process_time()
    for e in envelopes:
        opener.open(e, NOW)
    return len(envelopes) / (time.perf_counter() - start), (time.process_time() - cpu) / len(envelopes) * 1000


def in_process(url: str, clinic: Identity, cohort: Cohort) -> tuple[float, float, float]:
    """The intake without HTTP: open each envelope (one thread), then commit all through the writer.

    Returns envelopes/s for admit + commit together, for the commits alone, and envelopes per transaction.
    """
    engine = make_engine(url)
    migrate(engine)
    factory = sessions(engine)
    cohort.register(factory)
    intake = Intake(clinic, engine, factory)
    envelopes = cohort.envelopes
    start = time.perf_counter()
    admitted = [intake.admit(e, NOW) for e in envelopes]
    opened = time.perf_counter()
    futures = [intake.submit(a) for a in admitted]
    assert all(f.result()[1] for f in futures)
    done = time.perf_counter()
    per_batch = intake.writer.counters.items / intake.writer.counters.batches
    intake.close()
    engine.dispose()
    return len(envelopes) / (done - start), len(envelopes) / (done - opened), per_batch


def cpu_seconds(group: int) -> float:
    """User + system CPU seconds of the live processes in a process group (from /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(url: str, key: Path, passphrase: str, workers: int) -> Iterator[tuple[str, int]]:
    """`python -m mindbridge.hub serve` with `workers` processes on a free port; its base URL and group id."""
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
        healthy = 0
        while healthy < 2 * workers:  # several answers: every worker process is up
            try:
                healthy += httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the hub did not start") from None
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


@dataclass
class Run:
    """One HTTP run: wall seconds, per-request latencies, acknowledged ids, CPU seconds of client and server."""

    seconds: float
    latencies: list[float]
    acked: set[str]
    client_cpu: float
    server_cpu: float


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, body: bytes) -> bytes:
    """One HTTP/1.1 POST /intake on a kept-alive connection; raises unless the status is 200 or 201."""
    writer.write(b"POST /intake HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Type: application/octet-stream"
                 b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    length = int(next(v for k, v in fields.items() if k.lower() == b"content-length"))
    answer = await reader.readexactly(length)
    if status not in (b"200", b"201"):
        raise RuntimeError(f"intake answered {status.decode()}: {answer[:200]!r}")
    return answer


async def _send(base: str, streams: list[list[bytes]], in_flight: int) -> tuple[list[float], set[str]]:
    """A minimal keep-alive HTTP/1.1 client (httpx's asyncio client costs several ms of CPU per request here)."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    acked: set[str] = set()

    async def lane(mine: list[list[bytes]]) -> None:  # one connection's devices, each in order
        reader, writer = await asyncio.open_connection(host, int(port))
        for day in range(max(map(len, mine), default=0)):
            for stream in mine:
                start = time.perf_counter()
                answer = await _post(reader, writer, f"{host}:{port}", stream[day])
                latencies.append(time.perf_counter() - start)
                acked.add(json.loads(answer)["envelope_id"])
        writer.close()

    await asyncio.gather(*(lane(streams[i::in_flight]) for i in range(in_flight)))
    return latencies, acked


def drive(base: str, group: int, streams: list[list[bytes]], in_flight: int) -> Run:
    """Send every stream with `in_flight` concurrent requests; measure time, latency and CPU."""
    server_cpu, client_cpu, start = cpu_seconds(group), time.process_time(), time.perf_counter()
    latencies, acked = asyncio.run(_send(base, streams, in_flight))
    return Run(time.perf_counter() - start, latencies, acked, time.process_time() - client_cpu,
               cpu_seconds(group) - server_cpu)


def caught_up(factory: sessionmaker[Session], timeout: float = 300) -> float:
    """Seconds until no patient has an envelope newer than their last directive cycle."""
    start = time.perf_counter()
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    while time.perf_counter() - start < timeout:
        with factory() as s:
            if not repository.patients_to_sweep(s, epoch):
                break
        time.sleep(0.2)
    return time.perf_counter() - start


def checked(factory: sessionmaker[Session], acked: set[str]) -> str:
    """Stored = acknowledged (by id), one intake audit entry each, and the audit chain intact."""
    with factory() as s:
        stored = set(s.scalars(select(EnvelopeRow.id)))
        intakes = s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "intake",
                                                                            AuditRow.outcome == "ok"))
        verdict = audit.verify(s)
    ok = stored == acked and intakes == len(acked) and verdict.ok
    return (f"stored {len(stored)} = acknowledged {len(acked)}, {intakes} intake entries, "
            f"audit chain {'intact' if verdict.ok else 'DAMAGED'}: {'yes' if ok else 'NO'}")


@contextmanager
def databases(folder: Path) -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of SQLite in a folder and, if reachable, a fresh PostgreSQL database (dropped after)."""
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


def _fresh(url: str, tmp: str, tag: str) -> str:
    """A new empty database next to `url` (SQLite file or PostgreSQL schema) for one measurement."""
    if url.startswith("sqlite"):
        return sqlite_url(Path(tmp) / f"{tag}-{uuid.uuid4().hex[:6]}.sqlite")
    import psycopg

    schema = f"b_{tag}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{url.replace('postgresql://', 'postgresql+psycopg://')}?options=-csearch_path%3D{schema}"


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    """Measure and print intake throughput and latency per database beside the opening-only baseline."""
    print(f"machine: {os.cpu_count()} cores; {_load()}")
    clinic = Identity.generate("clinic", web_did="did:web:clinic.example.org:bench")
    cohort = Cohort(clinic, PATIENTS, PER_PATIENT)
    n = PATIENTS * PER_PATIENT
    baseline, open_ms = open_rate(clinic, cohort)
    print(f"{n} envelopes from {PATIENTS} devices; {IN_FLIGHT} requests in flight on HTTP/1.1 keep-alive; "
          f"client and server share the cores")
    print(f"{'baseline: open only (no HTTP, no DB), 1 thread':<56}{baseline:>8.0f} env/s   CPU {open_ms:.2f} ms/env")
    with tempfile.TemporaryDirectory() as tmp, databases(Path(tmp)) as dbs:
        key, passphrase = Path(tmp) / "clinic.json", uuid.uuid4().hex
        save(clinic, key, passphrase, n=2**12)
        for name, url in dbs:
            rate, commits, per_batch = in_process(_fresh(url, tmp, "inproc"), clinic, cohort)
            print(f"{name + ': in-process open + group commit, 1 thread':<56}{rate:>8.0f} env/s{rate / baseline:>7.2f}"
                  f" × baseline; commits alone {commits:.0f} env/s, {per_batch:.0f} env/transaction")
            for workers in WORKERS:
                fresh = _fresh(url, tmp, "http")
                engine = make_engine(fresh)
                migrate(engine)
                factory = sessions(engine)
                cohort.register(factory)
                with served(fresh, key, passphrase, workers) as (base, group):
                    run = drive(base, group, cohort.streams, IN_FLIGHT)
                    lag = caught_up(factory)
                verdict = checked(factory, run.acked)
                engine.dispose()
                rate, cuts = len(run.latencies) / run.seconds, statistics.quantiles(run.latencies, n=100)
                print(f"{f'{name}: HTTP, {workers} worker(s)':<56}{rate:>8.0f} env/s{rate / baseline:>7.2f} × baseline"
                      f"   p50 {cuts[49] * 1000:.0f} ms  p99 {cuts[98] * 1000:.0f} ms")
                server_ms, client_ms = run.server_cpu / n * 1000, run.client_cpu / n * 1000
                print(f"{'':<8}CPU ms/env: server {server_ms:.2f}, client {client_ms:.2f}; "
                      f"cycles caught up {lag:.1f} s after the last receipt; {verdict}")
    print(f"after: {_load()}")


if __name__ == "__main__":
    main()
