"""Helpers shared by the benchmarks: where the real data are, and best-of-N timing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINDBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))


def depresjon_dir() -> Path:
    """The Depresjon folder: ../shared/data when present, else the bundled gzip copy."""
    shared = SHARED_DATA / "depresjon" / "data"
    return shared if shared.exists() else REPO / "demo-data" / "depresjon"


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of `repeat` wall-clock timings of `fn()`, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
