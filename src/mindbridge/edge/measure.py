"""Measure the edge's budgets in this process: CPU per patient-day, peak resident memory, state and model size.

Run it in a fresh process (`python -m mindbridge.edge bench`): peak memory is the kernel's high-water mark of
this process's resident set (`VmHWM` in /proc/self/status), which, unlike `ru_maxrss`, does not inherit a
parent's peak across exec.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from ..privacy.did import Resolver, web_document
from ..privacy.envelope import Recipient
from ..privacy.keys import Identity
from .depresjon_csv import DEVICE, read_depresjon_csv
from .engine import EdgeEngine
from .model_loader import MODEL_FILE
from .replay import replay

BENCH_CLINIC = "did:web:clinic.invalid:bench"


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MB; NaN where /proc is unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def bench_recording(csv: Path, model_dir: Path, rounds: int = 1) -> dict[str, float]:
    """Replay a Depresjon recording `rounds` times through fresh engines; the budgets' figures as a dict."""
    read_start = time.process_time()
    recording = read_depresjon_csv(csv, csv.stem).series
    read_cpu = time.process_time() - read_start
    patient = Identity.generate("patient")
    device = Identity.generate("device", patient=patient.did)
    clinic = Identity.generate("clinic", web_did=BENCH_CLINIC)
    assert clinic.agreement is not None
    resolver = Resolver()
    resolver.add(web_document(clinic.did, clinic.signing.public_key(), clinic.agreement.public_key()))
    recipient = Recipient.of(resolver.resolve(clinic.did))
    days = sealed = 0
    cpu = 0.0
    state_bytes = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            state = Path(tmp) / f"state-{k}"
            EdgeEngine.init(state, model_dir, device, tz=recording.tz, source=DEVICE)
            report = replay(EdgeEngine.open(state, model_dir, device, recipient), recording,
                            now=dt.datetime.now(dt.UTC))
            days, sealed, cpu = days + report.days, sealed + report.sealed, cpu + report.cpu_seconds
            state_bytes = max(state_bytes, state.stat().st_size)
    return {"days": days, "sealed": sealed, "cpu_ms_per_day": 1000.0 * cpu / max(days, 1),
            "read_cpu_ms_per_day": 1000.0 * read_cpu * rounds / max(days, 1), "peak_rss_mb": peak_rss_mb(),
            "state_kb": state_bytes / 1024.0, "model_kb": (model_dir / MODEL_FILE).stat().st_size / 1024.0}
