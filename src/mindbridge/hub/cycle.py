"""The directive cycle, the never-suppressed rules at intake, and the background worker that runs the cycle.

The cycle, for each patient: read their summaries of the last `history_days` days and the summaries
that carried their first-ever surveys (the response baseline), evaluate the pathway with the rules that
were active last time (hysteresis), fold the directives into the triage queue (merge, clear what stopped
firing, escalate what waited too long). Many patients share one transaction, which starts by locking
their rows, so two cycles for one patient never interleave, whichever process runs them. One patient
never blocks another: each is evaluated on its own, a patient whose stored data cannot be read or whose
evaluation raises is left out, and the group's writes go in a savepoint that, if it fails, is replayed one
patient per savepoint. A failed patient is recorded (`cycle_failures`: stage, error, attempts; an audit
entry; `failures_total`) and retried with exponential back-off (`RETRY_FIRST` doubling up to `RETRY_MAX`);
the record is cleared by the next cycle that succeeds for them. After the commit, the new directives go to
every sink in `sinks`: the seam where FHIR and CDS Hooks delivery attach.

Never-suppressed rules (PHQ-9 item 9, and any rule the pathway marks so) are also evaluated at intake
(`at_intake`), inside the transaction that stores the envelope, so their directive and queue item exist
when the device gets its receipt, whatever happens to the cycle later.

The worker runs the cycle for the patients whose data changed, together, `debounce` seconds after the
first change (a burst costs one cycle), sweeps on a schedule for the patients nobody heard from (a week
without data produces no envelope; only a sweep sees the gap), and retries failed patients when due. Its
first sweep, at start-up, also picks up patients whose envelopes committed before a crash let their cycle run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from ..summary import Directive
from . import audit, repository, timeline
from .pathways import PathwayEngine, PatientHistory
from .timeline import Memory
from .triage import QueueItem, TriagePolicy, escalate, merge, resolve_cleared, withdraw

DirectiveSink = Callable[[list[Directive]], None]
log = logging.getLogger(__name__)
RETRY_FIRST = dt.timedelta(seconds=30)  # the first retry of a failed patient; each later one waits twice as long
RETRY_MAX = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Evaluated:
    """One patient's evaluation, ready to write: directives to store (new or back in force), those superseded,
    the queue items that changed, and the memory for the next evaluation."""

    directives: list[Directive]
    superseded: list[str]
    changed: list[QueueItem]
    memory: Memory


def error_text(exc: BaseException) -> str:
    """An error as one line for the failure list and the audit (its type and first line, at most 300 chars)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:300]


@dataclass
class DirectiveCycle:
    """Turns patients' stored summaries into directives and queue items with a pathway and a triage policy."""

    sessions: sessionmaker[Session]
    pathway: PathwayEngine
    policy: TriagePolicy
    history_days: int = 90
    sinks: list[DirectiveSink] = field(default_factory=list)
    failures_total: int = 0
    _safety: tuple[PathwayEngine, PathwayEngine] | None = field(default=None, repr=False)

    @property
    def never_suppressed(self) -> frozenset[str]:
        """Rules whose items no budget or snooze may hold back."""
        return frozenset(r.id for r in self.pathway.pathway.rules if r.never_suppressed)

    def run(self, patients: Sequence[str], now: dt.datetime | None = None) -> list[QueueItem]:
        """Evaluate these patients' pathways and update their queues in one transaction; the items that changed.

        `now` defaults to the time the patients' rows were locked (so a later cycle never evaluates earlier).
        A patient that fails is recorded for a retry and changes nothing; the others go on.
        """
        with self.sessions() as session:
            locked = repository.lock_patients(session, patients)
            now = now or dt.datetime.now(dt.UTC)
            ids = sorted(locked)
            received, unreadable = repository.histories(session, ids, now, self.history_days)
            firsts, unreadable_firsts = repository.first_surveys(session, ids)
            failures = {p: ("read", e) for p, e in (unreadable_firsts | unreadable).items()}
            open_items = repository.open_items_of(session, ids)
            counts = repository.summary_counts(session, ids, now.date())
            stored = repository.directive_states(session, ids, self._window_start(now))
            done: dict[str, Evaluated] = {}
            for patient in ids:
                if patient in failures:
                    continue
                history = PatientHistory(patient, received[patient], enrolled_at=locked[patient].enrolled_at,
                                         first_surveys=firsts[patient])
                try:
                    done[patient] = self._evaluate(history, locked[patient].memory, counts[patient],
                                                   open_items[patient], stored[patient], now)
                except Exception as exc:  # one patient's defect must not withhold another's directives
                    log.exception("directive cycle failed for one patient")
                    failures[patient] = ("evaluate", error_text(exc))
            new, written, failed_writes = self._write(session, done, now)
            failures |= failed_writes
            repository.record_failures(session, failures, now, RETRY_FIRST, RETRY_MAX)
            repository.clear_failures(session, written)
            audit.append(session, _failure_entries(failures, now))
            session.commit()
        self.failures_total += len(failures)
        self.deliver(new)
        return [i for p in written for i in done[p].changed]

    def _window_start(self, now: dt.datetime) -> dt.datetime:
        """The earliest moment a directive of the history window can have been raised at."""
        return dt.datetime.combine(now.date() - dt.timedelta(days=self.history_days), dt.time(), dt.UTC)

    def _safety_engine(self) -> PathwayEngine:
        """The pathway cut to its never-suppressed rules (built once per pathway, not per intake batch)."""
        if self._safety is None or self._safety[0] is not self.pathway:
            self._safety = (self.pathway, PathwayEngine(self.pathway.pathway.model_copy(update={
                "rules": [r for r in self.pathway.pathway.rules if r.never_suppressed]})))
        return self._safety[1]

    def _evaluate(self, history: PatientHistory, memory: Memory, counted: tuple[int, int], before: list[QueueItem],
                  stored: Mapping[str, tuple[dt.datetime, bool]], now: dt.datetime) -> Evaluated:
        found = timeline.evaluate(self.pathway, history, memory, counted, now)
        raised = {d.id for d in found.directives}
        fresh = [d for d in found.directives if d.id not in stored or stored[d.id][1]]  # new, or back in force
        superseded = sorted(i for i, (created, gone) in stored.items()
                            if not gone and created >= found.since and i not in raised)
        queue = merge(before, fresh, now, self.never_suppressed)
        queue = resolve_cleared(queue, {(d.patient, d.action) for d in found.firing}, now)
        queue = withdraw(queue, set(superseded) | {i for i, (_, gone) in stored.items() if gone}, now)
        queue = escalate(queue, self.policy, now)
        return Evaluated(fresh, superseded, [i for i in queue if i not in before], found.memory)

    def _write(self, session: Session, done: Mapping[str, Evaluated],
               now: dt.datetime) -> tuple[list[Directive], list[str], dict[str, tuple[str, str]]]:
        """Write every patient's results in one savepoint; if it fails, one savepoint per patient."""
        try:
            with session.begin_nested():
                return self._save(session, done, now), list(done), {}
        except Exception:
            log.exception("a cycle's group write failed; writing its patients one by one")
        new: list[Directive] = []
        written: list[str] = []
        failed: dict[str, tuple[str, str]] = {}
        for patient, result in done.items():
            try:
                with session.begin_nested():
                    new += self._save(session, {patient: result}, now)
                written.append(patient)
            except Exception as exc:
                failed[patient] = ("write", error_text(exc))
        return new, written, failed

    @staticmethod
    def _save(session: Session, done: Mapping[str, Evaluated], now: dt.datetime) -> list[Directive]:
        new = repository.save_directives(session, [d for r in done.values() for d in r.directives])
        repository.supersede(session, [i for r in done.values() for i in r.superseded], now)
        changed = [i for r in done.values() for i in r.changed]
        repository.save_items(session, changed)
        repository.mark_evaluated(session, {p: r.memory for p, r in done.items()}, now)
        audit.append(session, _entries(new, changed, now, {p: r.superseded for p, r in done.items()}))
        return new

    def at_intake(self, db: Connection, patients: Sequence[str], now: dt.datetime) -> list[Directive]:
        """Evaluate the never-suppressed rules for these patients inside the intake's transaction; new directives.

        Nothing else changes (hysteresis, other rules' items): the cycle that follows does the rest. A patient
        that fails here is recorded for the cycle's retry and never fails the intake.
        """
        rules = self.never_suppressed
        if not rules or not patients:
            return []
        engine = self._safety_engine()
        ids = sorted(set(patients))
        # a savepoint inside the intake's transaction: committing the session releases it, the intake commits
        session = Session(bind=db, join_transaction_mode="create_savepoint")
        new: list[Directive] = []
        failures: dict[str, tuple[str, str]] = {}
        try:
            locked = repository.lock_patients(session, ids)
            received, _ = repository.histories(session, list(locked), now, self.history_days)
            open_items = repository.open_items_of(session, list(locked))
            for patient in sorted(locked):
                try:
                    with session.begin_nested():
                        # an unreadable older summary is left out here (the cycle records it); the new one counts
                        history = PatientHistory(patient, received[patient], locked[patient].memory.active,
                                                 locked[patient].enrolled_at)
                        found = engine.evaluate(history, now)
                        before = open_items[patient]
                        changed = [i for i in merge(before, found, now, rules) if i not in before]
                        saved = repository.save_directives(session, found)
                        repository.save_items(session, changed)
                        audit.append(session, _entries(saved, changed, now))
                    new += saved
                except Exception as exc:
                    log.exception("never-suppressed rules failed at intake for one patient")
                    failures[patient] = ("intake", error_text(exc))
            repository.record_failures(session, failures, now, RETRY_FIRST, RETRY_MAX)
            audit.append(session, _failure_entries(failures, now))
            session.commit()
        except Exception:  # never fail the intake: the cycle its commit triggers evaluates every rule again
            log.exception("never-suppressed rules could not run at intake")
            self.failures_total += len(ids)
            return []
        finally:
            session.close()
        self.failures_total += len(failures)
        return new

    def deliver(self, new: list[Directive]) -> None:
        """Hand committed new directives (of a cycle, or made at intake) to every sink."""
        if new:
            for sink in self.sinks:
                sink(new)

    def run_all(self, now: dt.datetime | None = None, per_transaction: int = 200) -> int:
        """Run the cycle for every enrolled patient; returns how many queue items changed."""
        with self.sessions() as session:
            patients = repository.patients(session)
        return sum(len(self.run(patients[i:i + per_transaction], now))
                   for i in range(0, len(patients), per_transaction))


def _entries(new: Sequence[Directive], changed: Sequence[QueueItem], now: dt.datetime,
             superseded: Mapping[str, list[str]] | None = None) -> list[audit.Entry]:
    """One audit entry per patient whose directives or items changed, naming any directive superseded."""
    directives: dict[str, list[str]] = {}
    items: dict[str, dict[str, str]] = {}
    gone = {p: ids for p, ids in (superseded or {}).items() if ids}
    for d in new:
        directives.setdefault(d.patient, []).append(d.id)
    for i in changed:
        items.setdefault(i.patient, {})[i.id] = i.status
    return [audit.Entry("hub", "directive", f"Patient/{p}", "ok",
                        {"directives": directives.get(p, []), "items": items.get(p, {})}
                        | ({"superseded": gone[p]} if p in gone else {}), now)
            for p in sorted(directives.keys() | items.keys() | gone.keys())]


def _failure_entries(failures: Mapping[str, tuple[str, str]], now: dt.datetime) -> list[audit.Entry]:
    """One audit entry per patient whose evaluation failed, with the stage and error."""
    return [audit.Entry("hub", "directive", f"Patient/{p}", "error", {"stage": stage, "error": error}, now)
            for p, (stage, error) in sorted(failures.items())]


class CycleWorker:
    """A thread running the cycle for changed patients (debounced) and sweeping on a schedule."""

    def __init__(self, cycle: DirectiveCycle, debounce: float = 0.2, sweep_every: float = 3600.0,
                 retry_poll: float = 5.0) -> None:
        self.cycle, self.debounce, self.sweep_every, self.retry_poll = cycle, debounce, sweep_every, retry_poll
        self._pending: dict[str, dt.datetime] = {}
        self._busy, self._closed = False, False
        self._next_sweep = self._next_retry = time.monotonic()
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

    def _retry(self) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.cycle.sessions() as session:
            due = repository.failures_due(session, now)
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
            while not self._closed and not self._pending and time.monotonic() < self._next_timer():
                self._changed.wait(self._next_timer() - time.monotonic())
            until = time.monotonic() + self.debounce  # let a burst of changes arrive
            while self._pending and not self._closed and (left := until - time.monotonic()) > 0:
                self._changed.wait(left)
            if self._closed:
                return None
            work, self._pending, self._busy = self._pending, {}, True
            return work

    def _next_timer(self) -> float:
        return min(self._next_sweep, self._next_retry)

    def _run(self) -> None:
        while (work := self._take()) is not None:
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.sweep_every
                _logged(self._sweep)
            if time.monotonic() >= self._next_retry:
                self._next_retry = time.monotonic() + self.retry_poll
                _logged(self._retry)
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
