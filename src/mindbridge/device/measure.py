"""Measure the edge's budgets in this process: CPU per patient-day, peak resident memory, state and model size.

Run it in a fresh process (`python -m mindbridge.device bench`): peak memory is the kernel's high-water mark of
this process's resident set (`VmHWM` in /proc/self/status), which, unlike `ru_maxrss`, does not inherit a
parent's peak across exec.
"""

from __future__ import annotations

import gzip
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..edge.engine import EdgeEngine, split_days
from ..edge.model_loader import MODEL_FILE
from ..privacy.did import web_document
from ..privacy.envelope import Recipient
from ..privacy.keys import Identity
from ..sources.depresjon_lean import DEFAULT_TZ, DEVICE, read_depresjon_csv

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


def split_by_day(csv: Path, folder: Path) -> list[Path]:
    """Stream a Depresjon recording into one CSV per local day (as a device exports them), header repeated."""
    with csv.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    files: list[Path] = []
    out = None
    with opener(csv, "rt", encoding="utf-8") as fh:
        header = fh.readline()
        for line in fh:
            day = line[:10]
            if not files or files[-1].stem != day:
                if out is not None:
                    out.close()
                files.append(folder / f"{day}.csv")
                out = files[-1].open("w", encoding="utf-8")
                out.write(header)
            assert out is not None
            out.write(line)
    if out is not None:
        out.close()
    return files


def bench_recording(csv: Path, model_dir: Path, rounds: int = 1, signers: Sequence[str] = ()) -> dict[str, float]:
    """Feed a Depresjon recording one daily CSV at a time, `rounds` times through fresh engines; the figures.

    Per day: the lean reader parses the day's file (timed apart), then `process_day` updates the state,
    scores the day and seals the summary (timed as the engine's CPU).
    """
    patient = Identity.generate("patient")
    device = Identity.generate("device", patient=patient.did)
    clinic = Identity.generate("clinic", web_did=BENCH_CLINIC)
    assert clinic.agreement is not None
    recipient = Recipient.of(web_document(clinic.did, clinic.signing.public_key(), clinic.agreement.public_key()))
    days = sealed = 0
    cpu = read_cpu = 0.0
    state_bytes = 0
    with tempfile.TemporaryDirectory() as tmp:
        day_files = split_by_day(csv, Path(tmp))
        for k in range(rounds):
            state = Path(tmp) / f"state-{k}"
            EdgeEngine.init(state, model_dir, device, tz=DEFAULT_TZ, source=DEVICE, signers=signers)
            engine = EdgeEngine.open(state, model_dir, device, recipient)
            for path in day_files:
                start = time.process_time()
                series = read_depresjon_csv(path, csv.stem).series
                read_cpu += time.process_time() - start
                for day, part in split_days(series):
                    start = time.process_time()
                    sealed += engine.process_day(day, part).envelope is not None
                    cpu += time.process_time() - start
                    days += 1
            state_bytes = max(state_bytes, state.stat().st_size)
    return {"days": days, "sealed": sealed, "cpu_ms_per_day": 1000.0 * cpu / max(days, 1),
            "read_cpu_ms_per_day": 1000.0 * read_cpu / max(days, 1), "peak_rss_mb": peak_rss_mb(),
            "state_kb": state_bytes / 1024.0, "model_kb": (model_dir / MODEL_FILE).stat().st_size / 1024.0}
