"""Helpers shared by the benchmarks: where the real data are, and interleaved best-of-N timing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINDBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))


def depresjon_dir() -> Path:
    """The Depresjon folder: ../shared/data when present, else the bundled gzip copy."""
    shared = SHARED_DATA / "depresjon" / "data"
    return shared if shared.exists() else REPO / "demo-data" / "depresjon"


@dataclass(frozen=True)
class Timing:
    """The fastest wall-clock and CPU (all threads of this process) seconds seen over the repeats."""

    wall: float
    cpu: float


def compare(fns: Mapping[str, Callable[[], object]], repeat: int = 5) -> dict[str, Timing]:
    """Time each function `repeat` times, interleaved (A, B, A, B, …) so that load on a shared machine
    falls on all of them alike; keep the best wall and CPU time of each."""
    wall = {k: float("inf") for k in fns}
    cpu = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - w0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    return {k: Timing(wall[k], cpu[k]) for k in fns}
