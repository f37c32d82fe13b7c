"""Envelope intake: open, check and store each envelope exactly once, in one transaction.

An envelope is looked up first by the SHA-256 of its bytes: an exact retry of an accepted envelope gets
the original receipt back and changes nothing. Otherwise the privacy opener checks it against the
database (roster, consent registry, replay state) and, in the same transaction, the replay state is
advanced, the envelope and its summary stored and the intake audited; the receipt is sent only after
that transaction commits. A process killed at any point therefore leaves either the whole envelope or
nothing, and a client that saw no receipt simply sends the same bytes again.

Concurrent intakes of the same device serialise on its replay row (PostgreSQL row lock, SQLite write
lock); a losing duplicate rolls back and is answered from the stored row. Refusals are audited in a
transaction of their own, after the refused one has rolled back, so a refused envelope leaves nothing
but its audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..privacy.envelope import Opener, parse_header
from ..privacy.errors import PrivacyError, ReplayDetected
from ..privacy.keys import Identity
from ..privacy.replay import MemoryReplayGuard
from ..privacy.rotation import Roster
from ..summary import RiskSummary
from . import audit
from .consent_registry import ConsentRegistry, StoredRoster
from .db import EnvelopeRow, ReplayHighestRow, ReplaySeenRow


class DbReplayGuard:
    """A replay guard in the hub's database, writing in the caller's session (the intake transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def check(self, sender: str, seq: int, envelope_id: str) -> None:
        """Raise ReplayDetected if this envelope would be a replay; change nothing."""
        if self.session.get(ReplaySeenRow, envelope_id) is not None:
            raise ReplayDetected(f"envelope {envelope_id} was already accepted")
        highest = self.session.scalar(select(ReplayHighestRow.seq).where(ReplayHighestRow.sender == sender))
        if highest is not None and seq <= highest:
            raise ReplayDetected(f"sequence {seq} from {sender} is not above the highest accepted ({highest})")

    def record(self, sender: str, seq: int, envelope_id: str) -> None:
        """Advance the sender's sequence only if `seq` is higher, and remember the id, atomically.

        The conditional update and the id's primary key decide, not an earlier read: a concurrent intake
        that got there first makes this one raise ReplayDetected or IntegrityError at the flush.
        """
        advanced = self.session.execute(update(ReplayHighestRow)
                                        .where(ReplayHighestRow.sender == sender, ReplayHighestRow.seq < seq)
                                        .values(seq=seq)).rowcount  # type: ignore[attr-defined]
        if not advanced:
            if self.session.scalar(select(ReplayHighestRow.seq).where(ReplayHighestRow.sender == sender)) is not None:
                raise ReplayDetected(f"sequence {seq} from {sender} is not above the highest accepted")
            self.session.add(ReplayHighestRow(sender=sender, seq=seq))
        self.session.add(ReplaySeenRow(envelope_id=envelope_id, sender=sender))
        self.session.flush()

    def state(self) -> tuple[dict[str, int], frozenset[str]]:
        """Highest sequence per sender and the set of seen ids."""
        highest = {r.sender: r.seq for r in self.session.scalars(select(ReplayHighestRow))}
        return highest, frozenset(self.session.scalars(select(ReplaySeenRow.envelope_id)))


class Receipt(BaseModel):
    """What the hub answers for an accepted envelope (the same bytes again get the same receipt)."""

    model_config = ConfigDict(frozen=True)
    envelope_id: str
    patient: str
    seq: int
    digest: str
    received_at: dt.datetime


def _receipt(row: EnvelopeRow) -> Receipt:
    return Receipt(envelope_id=row.id, patient=row.patient, seq=row.seq, digest=row.digest,
                   received_at=row.received_at)


class Refused(Exception):
    """An envelope the hub will not store, with the privacy refusal's stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Intake:
    """Opens envelopes addressed to the clinic and stores each accepted one exactly once."""

    def __init__(self, clinic: Identity, sessions: sessionmaker[Session]) -> None:
        self.clinic, self.sessions = clinic, sessions
        # A template: each intake swaps in the roster, replay guard and consent policy of its own transaction.
        self.opener = Opener.for_clinic(clinic, Roster(), MemoryReplayGuard(), RiskSummary,
                                        lambda patient, scope, now: None)

    def receive(self, data: bytes, now: dt.datetime | None = None) -> tuple[Receipt, bool]:
        """Store an envelope; returns its receipt and whether it is new (False for an exact retry)."""
        now = now or dt.datetime.now(dt.UTC)
        digest = hashlib.sha256(data).hexdigest()
        with self.sessions() as session:
            stored = session.scalar(select(EnvelopeRow).where(EnvelopeRow.digest == digest))
            if stored is not None:
                return _receipt(stored), False
            opener = replace(self.opener, roster=StoredRoster(session), guard=DbReplayGuard(session),
                             consent=ConsentRegistry(session, self.clinic.did))
            try:
                opened = opener.open(data, now)
                row = EnvelopeRow(id=opened.header.id, patient=opened.header.patient, sender=opened.header.sender,
                                  seq=opened.header.seq, digest=digest, received_at=now,
                                  window_end=opened.payload.window_end, summary=opened.payload.model_dump_json())
                session.add(row)
                audit.record(session, opened.header.sender, "intake", f"Envelope/{row.id}", "ok",
                             {"patient": row.patient, "seq": row.seq, "digest": digest}, now)
                session.commit()
                return _receipt(row), True
            except (PrivacyError, IntegrityError) as exc:
                session.rollback()
                refusal = exc if isinstance(exc, PrivacyError) else ReplayDetected(
                    "a concurrent envelope with the same id or sequence was accepted first")
            if isinstance(refusal, ReplayDetected):  # a concurrent copy of these very bytes may have won
                stored = session.scalar(select(EnvelopeRow).where(EnvelopeRow.digest == digest))
                if stored is not None:
                    return _receipt(stored), False
        self._audit_refusal(data, digest, refusal, now)
        raise Refused(refusal.code, str(refusal)) from refusal

    def _audit_refusal(self, data: bytes, digest: str, exc: PrivacyError, now: dt.datetime) -> None:
        try:
            header, _ = parse_header(data)
            actor, entity = header.sender, f"Envelope/{header.id}"
        except PrivacyError:
            actor, entity = "unknown", "Envelope/unparseable"
        with self.sessions() as session:
            audit.record(session, actor, "intake", entity, "refused",
                         {"code": exc.code, "reason": str(exc)[:300], "digest": digest}, now)
            session.commit()
