"""The directive cycle, and the background worker that runs it off the request path.

The cycle, for one patient: read their summaries of the last `history_days` days and the summaries that
carried their first-ever surveys (the response baseline), evaluate the pathway with the rules that were
active last time (hysteresis), fold the directives into the triage queue (merge, clear what stopped
firing, escalate what waited too long), and store directives, items and an audit entry in one
transaction that starts by locking the patient's row, so two cycles for one patient never interleave,
whichever process runs them. After the commit, the new directives go to every sink in `sinks`: the seam
where FHIR and CDS Hooks delivery attach.

The worker runs the cycle for patients whose data changed, `debounce` seconds after the first change
(a burst of envelopes costs one cycle), and sweeps on a schedule for the patients nobody heard from
(a week without data produces no envelope; only a sweep sees the gap). Its first sweep, at start-up,
also picks up patients whose envelopes committed before a crash let their cycle run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ..summary import Directive
from . import audit, repository
from .db import PatientRow
from .pathways import PathwayEngine, PatientHistory
from .triage import QueueItem, TriagePolicy, escalate, merge, resolve_cleared

DirectiveSink = Callable[[list[Directive]], None]
log = logging.getLogger(__name__)


@dataclass
class DirectiveCycle:
    """Turns patients' stored summaries into directives and queue items with a pathway and a triage policy."""

    sessions: sessionmaker[Session]
    pathway: PathwayEngine
    policy: TriagePolicy
    history_days: int = 90
    sinks: list[DirectiveSink] = field(default_factory=list)

    @property
    def never_suppressed(self) -> frozenset[str]:
        """Rules whose items no budget or snooze may hold back."""
        return frozenset(r.id for r in self.pathway.pathway.rules if r.never_suppressed)

    def run(self, patient: str, now: dt.datetime) -> list[QueueItem]:
        """Evaluate one patient's pathway and update their queue; returns the items that changed."""
        with self.sessions() as session:
            active, enrolled = repository.lock_patient(session, patient)
            history = PatientHistory(patient, repository.history(session, patient, now, self.history_days),
                                     frozenset(active), enrolled, repository.first_surveys(session, patient))
            directives = self.pathway.evaluate(history, now)
            before = repository.open_items(session, [patient])
            queue = merge(before, directives, now, self.never_suppressed)
            queue = resolve_cleared(queue, {(d.patient, d.action) for d in directives}, now)
            queue = escalate(queue, self.policy, now)
            changed = [i for i in queue if i not in before]
            new = repository.save_directives(session, directives)
            repository.save_items(session, changed)
            session.execute(update(PatientRow).where(PatientRow.did == patient)
                            .values(active_rules=sorted({d.rule_id for d in directives}), evaluated_at=now))
            if new or changed:
                audit.record(session, "hub", "directive", f"Patient/{patient}", "ok",
                             {"directives": [d.id for d in new], "items": {i.id: i.status for i in changed}}, now)
            session.commit()
        if new:
            for sink in self.sinks:
                sink(new)
        return changed

    def run_all(self, now: dt.datetime) -> int:
        """Run the cycle for every enrolled patient; returns how many queue items changed."""
        with self.sessions() as session:
            patients = repository.patients(session)
        return sum(len(self.run(p, now)) for p in patients)


class CycleWorker:
    """A thread running the cycle for changed patients (debounced) and sweeping on a schedule."""

    def __init__(self, cycle: DirectiveCycle, debounce: float = 0.2, sweep_every: float = 3600.0) -> None:
        self.cycle, self.debounce, self.sweep_every = cycle, debounce, sweep_every
        self._pending: dict[str, dt.datetime] = {}
        self._busy, self._closed = False, False
        self._next_sweep = time.monotonic()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="hub-cycle", daemon=True)
        self._thread.start()

    def mark(self, patients: Mapping[str, dt.datetime]) -> None:
        """These patients' data changed (as of the given times): run their cycles soon."""
        with self._changed:
            for patient, at in patients.items():
                self._pending[patient] = max(at, self._pending.get(patient, at))
            self._changed.notify_all()

    def settle(self, timeout: float = 30) -> None:
        """Wait until no cycle is pending or running (tests, benchmarks, an orderly shutdown)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"directive cycles still pending after {timeout} s")
                self._changed.wait(left)

    def close(self, timeout: float = 30) -> None:
        """Stop after the cycle in progress (what is still pending is found again by the next start's sweep)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _sweep(self) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.cycle.sessions() as session:
            due = repository.patients_to_sweep(session, now - dt.timedelta(seconds=self.sweep_every / 2))
        self.mark(dict.fromkeys(due, now))

    def _take(self) -> dict[str, dt.datetime] | None:
        """Wait for work (changed patients, or a sweep that is due) and mark the worker busy; None once closed."""
        with self._changed:
            while not self._closed and not self._pending and time.monotonic() < self._next_sweep:
                self._changed.wait(self._next_sweep - time.monotonic())
            until = time.monotonic() + self.debounce  # let a burst of changes arrive
            while self._pending and not self._closed and (left := until - time.monotonic()) > 0:
                self._changed.wait(left)
            if self._closed:
                return None
            work, self._pending, self._busy = self._pending, {}, True
            return work

    def _run(self) -> None:
        while (work := self._take()) is not None:
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.sweep_every
                _logged(self._sweep)
            for patient, at in work.items():
                _logged(self.cycle.run, patient, at)
            with self._changed:
                self._busy = False
                self._changed.notify_all()


def _logged(task: Callable[..., object], *args: object) -> None:
    """Run a task, logging instead of raising: the worker must survive one patient's failure."""
    try:
        task(*args)
    except Exception:
        log.exception("directive cycle task failed")
