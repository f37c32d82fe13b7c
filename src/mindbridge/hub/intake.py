"""Envelope intake: open each envelope (CPU-bound, any thread), then store it exactly once (the writer).

`Intake.admit` does everything that needs no lock: the privacy opener's checks (size, recipient, time
window, HPKE, signature, payload) and the registry's answers (device enrolment, consent) from the cached
view in `registry_cache`. What comes out is a `Candidate` (opened) or a `Refusal` (to be audited).
`Intake.submit` hands it to the process's single writer thread (`group_commit`), which writes
concurrent requests' envelopes in one transaction (`intake_batch`): exact retries answered with the
original receipt, replays refused, the replay state advanced, envelopes and audit entries stored. A
request is answered only after that transaction commits, so a process killed at any instant leaves an
envelope wholly stored or not at all, and a device that got no receipt sends the same bytes again.
A refused envelope leaves nothing but its audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from ..privacy.consent import Grant, Scope
from ..privacy.envelope import Opener, parse_header
from ..privacy.errors import ConsentRefused, PrivacyError, UnknownSigner
from ..privacy.keys import Identity
from ..privacy.replay import MemoryReplayGuard
from ..privacy.rotation import Roster
from ..summary import Directive, RiskSummary
from .group_commit import GroupCommit
from .intake_batch import Candidate, Item, Outcome, Receipt, Refusal, Refused, stored_receipts, write_batch
from .registry_cache import RegistryCache

__all__ = ["Intake", "Receipt", "Refused"]


class Admission(Roster):
    """The opener's roster, consent policy and replay guard for one envelope, answered from the cache.

    Replays are decided by the writer, under its lock, against the database: here `check` and `record`
    have nothing to look at, and the opener's own order of checks is otherwise kept.
    """

    def __init__(self, cache: RegistryCache) -> None:
        super().__init__()
        self.cache = cache
        self.patient: str | None = None
        self.needs = Scope()

    def authorise(self, patient: str, device: str, created: dt.datetime) -> None:
        """Raise unless `device` was an active key of `patient` at `created`."""
        self.patient = patient
        self.cache.authorise(patient, device, created)

    def __call__(self, patient: str, needs: Scope, now: dt.datetime) -> Grant:
        """The grant that covers what the summary discloses (remembered for the writer's recheck)."""
        self.needs = needs
        return self.cache.consent(patient, needs, now)

    def check(self, sender: str, seq: int, envelope_id: str) -> None:
        """Nothing to check before the writer's lock (see the class)."""

    def record(self, sender: str, seq: int, envelope_id: str) -> None:
        """Nothing to record before the writer's lock (see the class)."""

    def state(self) -> tuple[dict[str, int], frozenset[str]]:
        """No replay state is kept here."""
        return {}, frozenset()


def refusal_of(data: bytes, digest: str, error: PrivacyError, now: dt.datetime) -> Refusal:
    """A refusal naming the sender and envelope when the header can be read."""
    try:
        header, _ = parse_header(data)
        actor, entity = header.sender, f"Envelope/{header.id}"
    except PrivacyError:
        actor, entity = "unknown", "Envelope/unparseable"
    return Refusal(digest, actor, entity, error, now)


Committed = Callable[[Sequence[Item], Sequence[Outcome | Exception]], None]


class SafetyRules(Protocol):
    """The joint where never-suppressed rules run inside the intake's transaction (`cycle.DirectiveCycle`)."""

    def at_intake(self, db: Connection, patients: Sequence[str], now: dt.datetime) -> list[Directive]:
        """Evaluate the never-suppressed rules for these patients in `db`'s transaction; the new directives."""

    def deliver(self, new: list[Directive]) -> None:
        """Hand directives made at intake to the sinks once their transaction committed."""


class Intake:
    """Opens envelopes addressed to the clinic and stores each accepted one exactly once."""

    def __init__(self, clinic: Identity, engine: Engine, sessions: sessionmaker[Session],
                 committed: Committed | None = None, max_batch: int = 512, safety: SafetyRules | None = None,
                 active_days: int | None = None) -> None:
        self.sessions = sessions
        self.cache = RegistryCache(sessions, clinic.did)
        # A template: each envelope swaps in its own Admission as roster, replay guard and consent policy.
        self.opener = Opener.for_clinic(clinic, Roster(), MemoryReplayGuard(), RiskSummary,
                                        lambda patient, scope, now: None)
        self.safety = safety
        self.active_days = active_days  # receipts say when a summary's window ended before it
        self.follow_up = committed or (lambda items, outcomes: None)
        self._made: list[Directive] = []  # directives of the batch being written (the writer is one thread)
        self.writer: GroupCommit[Item, Outcome] = GroupCommit(engine, self._write, self._committed, max_batch)

    def _write(self, db: Connection, items: Sequence[Item]) -> list[Outcome | Exception]:
        self._made = []
        return write_batch(db, items, self.cache, self._at_intake if self.safety is not None else None,
                           self.active_days)

    def _at_intake(self, db: Connection, patients: Sequence[str], now: dt.datetime) -> None:
        assert self.safety is not None
        self._made += self.safety.at_intake(db, patients, now)

    def _committed(self, items: Sequence[Item], outcomes: Sequence[Outcome | Exception]) -> None:
        made, self._made = self._made, []
        if made and self.safety is not None:
            self.safety.deliver(made)
        self.follow_up(items, outcomes)

    def admit(self, data: bytes, now: dt.datetime | None = None) -> Item | Outcome:
        """Open and check an envelope (no lock): a candidate, a refusal, or the stored receipt of an exact retry."""
        now = now or dt.datetime.now(dt.UTC)
        digest = hashlib.sha256(data).hexdigest()
        version = self.cache.version
        error: PrivacyError | None = None
        for attempt in range(2):
            admission = Admission(self.cache)
            try:
                opened = replace(self.opener, roster=admission, guard=admission, consent=admission).open(data, now)
                return Candidate(digest, opened.header, opened.payload, admission.needs, version, now)
            except (UnknownSigner, ConsentRefused) as exc:  # perhaps a stale cache entry: read it again once
                error = exc
                if attempt == 0 and admission.patient is not None:
                    self.cache.evict(admission.patient)
                    continue
            except PrivacyError as exc:
                error = exc
            break
        assert error is not None
        stored = self._stored(digest)  # an exact retry of an accepted envelope is answered even if now refused
        return (stored, False) if stored is not None else refusal_of(data, digest, error, now)

    def _stored(self, digest: str) -> Receipt | None:
        with self.sessions() as session:
            return stored_receipts(session, {digest}, self.active_days).get(digest)

    def submit(self, admitted: Item | Outcome) -> Future[Outcome]:
        """Queue an admitted envelope for the writer; the future resolves once its transaction committed."""
        if isinstance(admitted, (Candidate, Refusal)):
            return self.writer.submit(admitted)
        done: Future[Outcome] = Future()
        done.set_result(admitted)
        return done

    def receive(self, data: bytes, now: dt.datetime | None = None) -> Outcome:
        """Store an envelope and wait for the commit; returns its receipt and whether it is new. Raises Refused."""
        return self.submit(self.admit(data, now)).result()

    def close(self) -> None:
        """Finish the queued writes and stop the writer."""
        self.writer.close()
