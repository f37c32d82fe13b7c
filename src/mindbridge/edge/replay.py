"""Replay a subject's recording day by day through the engine, sealing one envelope per day (the demo's path).

Each sealed envelope is written to `<out>/<day>.envelope.json` before the state moves on, so a replay that
is killed resumes from the state file at the next day and rewrites nothing already sent.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..datapoints import Series
from .engine import EdgeEngine, SealedDay, split_days


@dataclass
class ReplayReport:
    """What a replay did: days fed and sealed, days already processed, CPU seconds spent in the engine."""

    days: int = 0
    sealed: int = 0
    skipped: int = 0
    cpu_seconds: float = 0.0
    envelopes: list[Path] = field(default_factory=list)

    @property
    def cpu_ms_per_day(self) -> float:
        """Engine CPU per fed day, in milliseconds."""
        return 1000.0 * self.cpu_seconds / self.days if self.days else 0.0


def replay(engine: EdgeEngine, series: Series, out: Path | None = None, *, now: dt.datetime | None = None,
           on_day: Callable[[SealedDay], None] | None = None) -> ReplayReport:
    """Feed every local day of `series` after the state's last day, in order, through `engine.process_day`."""
    report = ReplayReport()
    last = engine.state.last_day
    for day, part in split_days(series):
        if last is not None and day <= last:
            report.skipped += 1
            continue
        start = time.process_time()
        result = engine.process_day(day, part, now=now, deliver=lambda sealed: _deliver(sealed, out, report))
        report.cpu_seconds += time.process_time() - start
        report.days += 1
        if on_day is not None:
            on_day(result)
    return report


def write_envelope(sealed: SealedDay, out: Path) -> Path | None:
    """Write a sealed day's envelope to `out/<day>.envelope.json`; None when the day sealed nothing."""
    if sealed.envelope is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{sealed.day.isoformat()}.envelope.json"
    path.write_bytes(sealed.envelope)
    return path


def _deliver(sealed: SealedDay, out: Path | None, report: ReplayReport) -> None:
    """Count a sealed day and write its envelope when there is an `out` folder."""
    if sealed.envelope is None:
        return
    report.sealed += 1
    if out is not None and (path := write_envelope(sealed, out)) is not None:
        report.envelopes.append(path)
