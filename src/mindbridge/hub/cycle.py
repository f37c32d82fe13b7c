"""The directive cycle, and the background worker that runs it off the request path.

The cycle, for each patient: read their summaries of the last `history_days` days and the summaries
that carried their first-ever surveys (the response baseline), evaluate the pathway with the rules that
were active last time (hysteresis), fold the directives into the triage queue (merge, clear what stopped
firing, escalate what waited too long). Many patients share one transaction, which starts by locking
their rows, so two cycles for one patient never interleave, whichever process runs them; reads, writes
and audit entries are a fixed number of statements for the whole group. After the commit, the new
directives go to every sink in `sinks`: the seam where FHIR and CDS Hooks delivery attach.

The worker runs the cycle for the patients whose data changed, together, `debounce` seconds after the
first change (a burst costs one cycle), and sweeps on a schedule for the patients nobody heard from
(a week without data produces no envelope; only a sweep sees the gap). Its first sweep, at start-up,
also picks up patients whose envelopes committed before a crash let their cycle run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from ..summary import Directive
from . import audit, repository
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

    def run(self, patients: Sequence[str], now: dt.datetime | None = None) -> list[QueueItem]:
        """Evaluate these patients' pathways and update their queues in one transaction; the items that changed.

        `now` defaults to the time the patients' rows were locked (so a later cycle never evaluates earlier).
        """
        with self.sessions() as session:
            locked = repository.lock_patients(session, patients)
            now = now or dt.datetime.now(dt.UTC)
            ids = sorted(locked)
            received = repository.histories(session, ids, now, self.history_days)
            firsts = repository.first_surveys(session, ids)
            open_items: dict[str, list[QueueItem]] = {p: [] for p in ids}
            for item in repository.open_items(session, ids):
                open_items[item.patient].append(item)
            directives: list[Directive] = []
            changed: list[QueueItem] = []
            firing: dict[str, list[str]] = {}
            never_suppressed = self.never_suppressed
            for patient in ids:
                active, enrolled = locked[patient]
                history = PatientHistory(patient, received[patient], frozenset(active), enrolled, firsts[patient])
                found = self.pathway.evaluate(history, now)
                before = open_items[patient]
                queue = merge(before, found, now, never_suppressed)
                queue = resolve_cleared(queue, {(d.patient, d.action) for d in found}, now)
                queue = escalate(queue, self.policy, now)
                changed += [i for i in queue if i not in before]
                directives += found
                firing[patient] = sorted({d.rule_id for d in found})
            new = repository.save_directives(session, directives)
            repository.save_items(session, changed)
            repository.mark_evaluated(session, firing, now)
            audit.append(session, _entries(new, changed, now))
            session.commit()
        if new:
            for sink in self.sinks:
                sink(new)
        return changed

    def run_all(self, now: dt.datetime | None = None, per_transaction: int = 200) -> int:
        """Run the cycle for every enrolled patient; returns how many queue items changed."""
        with self.sessions() as session:
            patients = repository.patients(session)
        return sum(len(self.run(patients[i:i + per_transaction], now))
                   for i in range(0, len(patients), per_transaction))


def _entries(new: Sequence[Directive], changed: Sequence[QueueItem], now: dt.datetime) -> list[audit.Entry]:
    """One audit entry per patient whose directives or items changed."""
    directives: dict[str, list[str]] = {}
    items: dict[str, dict[str, str]] = {}
    for d in new:
        directives.setdefault(d.patient, []).append(d.id)
    for i in changed:
        items.setdefault(i.patient, {})[i.id] = i.status
    return [audit.Entry("hub", "directive", f"Patient/{p}", "ok",
                        {"directives": directives.get(p, []), "items": items.get(p, {})}, now)
            for p in sorted(directives.keys() | items.keys())]


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

    def _cycle(self, work: dict[str, dt.datetime]) -> None:
        """Cycle the patients whose changes are not in the future at the present time, the others at theirs."""
        present = dt.datetime.now(dt.UTC)
        by_time: dict[dt.datetime | None, list[str]] = {}
        for patient, at in work.items():
            by_time.setdefault(at if at > present else None, []).append(patient)
        for when, patients in by_time.items():
            self.cycle.run(patients, when)

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
            _logged(self._cycle, work)
            with self._changed:
                self._busy = False
                self._changed.notify_all()


def _logged(task: Callable[..., object], *args: object) -> None:
    """Run a task, logging instead of raising: the worker must survive one patient's failure."""
    try:
        task(*args)
    except Exception:
        log.exception("directive cycle task failed")
