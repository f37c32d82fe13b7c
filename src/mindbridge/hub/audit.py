"""The audit log: append-only and hash-chained, so any altered, inserted or deleted entry shows.

Entry n's hash is SHA-256 over the previous entry's hash and entry n's canonical JSON (RFC 8785: its
sequence number, time, actor, action, entity, outcome and detail). The first entry follows 64 zeros.
A one-row head holds the last sequence number and hash; appending first bumps it with
`UPDATE … RETURNING`, whose row lock (PostgreSQL) or write lock (SQLite) orders concurrent appends, and
lets `verify` notice entries deleted from the end. A batch of entries (the intake's group commit) takes
its whole range of sequence numbers in that one update and chains the entries in order under the lock.
An entry is written in the same transaction as the change it records, so an audited change and its
entry commit or vanish together.

The chain has no secret: whoever can rewrite the whole table and the head can forge it. Publish the
head hash that `verify` prints somewhere the database's writers cannot reach to anchor it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from ..privacy.canonical import canonical
from .db import AuditHeadRow, AuditRow

GENESIS = "0" * 64
# Our action names → FHIR AuditEvent.action (C create, R read, U update, D delete, E execute).
ACTION_CODES = {"intake": "C", "read": "R", "directive": "C", "triage": "U", "consent": "C", "patient": "C",
                "export": "E", "admin": "E", "auth": "E"}
OUTCOME_CODES = {"ok": "0", "refused": "4", "denied": "4", "error": "8"}
_COLUMNS = ("seq", "at", "actor", "action", "entity", "outcome", "detail", "prev_hash", "hash")


def _body(row: AuditRow) -> dict[str, object]:
    return {"seq": row.seq, "at": row.at.astimezone(dt.UTC).isoformat(), "actor": row.actor, "action": row.action,
            "entity": row.entity, "outcome": row.outcome, "detail": json.loads(row.detail)}


def entry_hash(prev_hash: str, row: AuditRow) -> str:
    """The hash of an entry given the hash of the one before it."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(_body(row))).hexdigest()


@dataclass(frozen=True)
class Entry:
    """What an audit entry says, before it gets its place (sequence number and hashes) in the chain."""

    actor: str
    action: str
    entity: str
    outcome: str = "ok"
    detail: Mapping[str, object] = field(default_factory=dict)
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        if self.action.split(".")[0] not in ACTION_CODES or self.outcome not in OUTCOME_CODES:
            raise ValueError(f"unknown audit action {self.action!r} or outcome {self.outcome!r}")


def append(db: Session | Connection, entries: Sequence[Entry]) -> list[AuditRow]:
    """Chain entries, in order, onto the log in the caller's transaction: three statements for any number."""
    if not entries:
        return []
    last, prev = db.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1)
                            .values(seq=AuditHeadRow.seq + len(entries))
                            .returning(AuditHeadRow.seq, AuditHeadRow.hash)).one()
    rows = []
    for seq, e in enumerate(entries, start=last - len(entries) + 1):
        row = AuditRow(seq=seq, at=e.at.astimezone(dt.UTC), actor=e.actor, action=e.action, entity=e.entity,
                       outcome=e.outcome, detail=canonical(dict(e.detail)).decode("utf-8"), prev_hash=prev)
        row.hash = prev = entry_hash(prev, row)
        rows.append(row)
    db.execute(insert(AuditRow), [{c: getattr(r, c) for c in _COLUMNS} for r in rows])
    db.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(hash=prev))
    return rows


def record(session: Session, actor: str, action: str, entity: str, outcome: str = "ok",
           detail: Mapping[str, object] | None = None, now: dt.datetime | None = None) -> AuditRow:
    """Append an entry in the session's transaction (it commits or rolls back with the audited change)."""
    entry = Entry(actor, action, entity, outcome, detail or {}, now or dt.datetime.now(dt.UTC))
    return append(session, [entry])[0]


@dataclass(frozen=True)
class Verdict:
    """The result of checking the chain: entries read, the head hash, and the first problem found."""

    entries: int
    head: str
    first_bad: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True if no problem was found."""
        return self.first_bad is None


def _rows(session: Session) -> Iterator[AuditRow]:
    yield from session.scalars(select(AuditRow).order_by(AuditRow.seq).execution_options(yield_per=2000))


def verify(session: Session) -> Verdict:
    """Walk the chain from the start and report the first altered, inserted or deleted entry."""
    expected, prev, count = 1, GENESIS, 0
    for row in _rows(session):
        count += 1
        if row.seq != expected:
            return Verdict(count, prev, expected, f"entry {expected} is missing: deleted (the next entry is {row.seq})")
        if row.prev_hash != prev:
            return Verdict(count, prev, row.seq, f"entry {row.seq} does not follow entry {row.seq - 1}: "
                                                 "inserted, or its predecessor was replaced")
        if entry_hash(prev, row) != row.hash:
            return Verdict(count, prev, row.seq, f"entry {row.seq} was altered: its content no longer matches "
                                                 "its hash")
        prev, expected = row.hash, expected + 1
    head = session.get(AuditHeadRow, 1)
    if head is None:
        return Verdict(count, prev, expected, "the chain head is missing")
    if head.seq != expected - 1:
        return Verdict(count, prev, min(head.seq, expected - 1) + 1,
                       f"the head records {head.seq} entries but {expected - 1} are present: entries were "
                       f"{'deleted from the end' if head.seq > expected - 1 else 'appended outside the log'}")
    if head.hash != prev:
        return Verdict(count, prev, head.seq, f"entry {head.seq} is not the one the head recorded: replaced")
    return Verdict(count, prev)


def as_audit_event(row: AuditRow) -> dict[str, object]:
    """An entry as a plain dict shaped like FHIR R4 AuditEvent (IHE BALP); the FHIR module maps it."""
    return {
        "id": f"audit-{row.seq}",
        "recorded": row.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "action": ACTION_CODES[row.action.split(".")[0]],
        "subtype": row.action,
        "outcome": OUTCOME_CODES[row.outcome],
        "outcomeDesc": row.outcome,
        "agent": row.actor,
        "entity": row.entity,
        "detail": json.loads(row.detail),
        "hash": row.hash,
        "prevHash": row.prev_hash,
    }


def export(session: Session, since: int = 0, limit: int = 1000) -> list[dict[str, object]]:
    """Entries after sequence number `since`, as AuditEvent-shaped dicts."""
    rows = session.scalars(select(AuditRow).where(AuditRow.seq > since).order_by(AuditRow.seq).limit(limit))
    return [as_audit_event(r) for r in rows]
