"""Writing a batch of admitted envelopes in one transaction (SQLAlchemy Core, a fixed number of statements).

The batch first locks the registry row (`hub_state`): batches from every process, and registry changes,
are thereby ordered, and the batch learns which patients' registry entries changed since its envelopes
were opened (their envelopes are checked again with fresh answers). Then, in arrival order: an envelope whose bytes are
already stored (or appeared earlier in this batch) gets the original receipt; a replayed id or a sequence
number not above the device's highest is refused; anything else is accepted. One multi-row insert stores
the envelopes, one upsert advances each device's sequence, one insert remembers the ids, one upsert keeps
each patient's first-ever survey per instrument, and the audit entries, refusals included, are chained in
arrival order under the audit head's lock. Nothing is visible before the commit; nothing is answered
before it either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from ..privacy.consent import Scope
from ..privacy.envelope import Header
from ..privacy.errors import PrivacyError
from ..privacy.replay import refuse_replay
from ..summary import RiskSummary
from . import audit
from .db import EnvelopeRow, ReplayHighestRow, ReplaySeenRow, SurveyBaselineRow, advance_registry, upsert
from .registry_cache import RegistryCache


class Receipt(BaseModel):
    """What the hub answers for an accepted envelope (the same bytes again get the same receipt)."""

    model_config = ConfigDict(frozen=True)
    envelope_id: str
    patient: str
    seq: int
    digest: str
    received_at: dt.datetime
    note: str = Field("", description="Set when the summary is stored but outside the days the hub reads "
                                      "(its window ended before the hub's active window)")


def receipt(envelope_id: str, patient: str, seq: int, digest: str, received_at: dt.datetime, window_end: dt.date,
            active_days: int | None) -> Receipt:
    """The receipt of a stored envelope, saying so when its window ended before the hub's active window."""
    note = ""
    if active_days is not None and window_end < received_at.date() - dt.timedelta(days=active_days):
        note = (f"stored, but its window ended {window_end.isoformat()}, before the hub's active window of the last "
                f"{active_days} days: no directive, queue item or patient page will read it (replay old recordings "
                "re-dated: see docs/hub.md)")
    return Receipt(envelope_id=envelope_id, patient=patient, seq=seq, digest=digest, received_at=received_at,
                   note=note)


class Refused(Exception):
    """An envelope the hub will not store, with the privacy refusal's stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Outcome = tuple[Receipt, bool]  # the receipt, and whether the envelope is new (False for an exact retry)


@dataclass(frozen=True)
class Candidate:
    """An opened envelope waiting for the writer: what it stores, and what the registry was asked."""

    digest: str
    header: Header
    summary: RiskSummary
    needs: Scope
    version: int | None  # the registry version the cached answers were valid at
    received_at: dt.datetime


@dataclass(frozen=True)
class Refusal:
    """An envelope refused before the writer; the writer only audits it."""

    digest: str
    actor: str
    entity: str
    error: PrivacyError
    received_at: dt.datetime


Item = Candidate | Refusal


class BatchReplayGuard:
    """The replay state of one batch: read once for its senders and ids, decided in memory, written once.

    Correct only under the batch's lock (no other writer changes the replay tables meanwhile); the
    conditional upsert is a second line of defence, not the decision.
    """

    def __init__(self, db: Connection, senders: Iterable[str], ids: Iterable[str]) -> None:
        self.db = db
        self.highest: dict[str, int] = {s: q for s, q in db.execute(
            select(ReplayHighestRow.sender, ReplayHighestRow.seq).where(ReplayHighestRow.sender.in_(set(senders))))}
        self.seen = set(db.scalars(select(ReplaySeenRow.envelope_id).where(ReplaySeenRow.envelope_id.in_(set(ids)))))
        self.new_ids: dict[str, str] = {}
        self.raised: dict[str, int] = {}

    def check(self, sender: str, seq: int, envelope_id: str) -> None:
        """Raise ReplayDetected if this envelope would be a replay; change nothing."""
        refuse_replay(sender, seq, envelope_id, self.highest.get(sender), envelope_id in self.seen)

    def record(self, sender: str, seq: int, envelope_id: str) -> None:
        """Check, then remember the envelope for this batch's write."""
        self.check(sender, seq, envelope_id)
        self.seen.add(envelope_id)
        self.highest[sender] = self.raised[sender] = seq
        self.new_ids[envelope_id] = sender

    def state(self) -> tuple[dict[str, int], frozenset[str]]:
        """Highest sequence per sender and the seen ids, as far as this batch knows them."""
        return dict(self.highest), frozenset(self.seen)

    def flush(self) -> None:
        """Write what this batch recorded: one insert of ids, one conditional upsert of sequences."""
        if not self.new_ids:
            return
        self.db.execute(insert(ReplaySeenRow), [{"envelope_id": i, "sender": s} for i, s in self.new_ids.items()])
        up = upsert(self.db, ReplayHighestRow).values([{"sender": s, "seq": q} for s, q in self.raised.items()])
        self.db.execute(up.on_conflict_do_update(index_elements=["sender"], set_={"seq": up.excluded.seq},
                                                 where=ReplayHighestRow.seq < up.excluded.seq))
        self.new_ids, self.raised = {}, {}


def lock_registry(db: Connection) -> int:
    """Take the registry row's lock for this transaction (orders batches and registry changes); its version."""
    return advance_registry(db, 0)


def stored_receipts(db: Connection | Session, digests: set[str],
                    active_days: int | None = None) -> dict[str, Receipt]:
    """The receipts of the stored envelopes among these digests (of their bytes)."""
    rows = db.execute(select(EnvelopeRow.id, EnvelopeRow.patient, EnvelopeRow.seq, EnvelopeRow.digest,
                             EnvelopeRow.received_at, EnvelopeRow.window_end).where(EnvelopeRow.digest.in_(digests)))
    return {r.digest: receipt(*r, active_days) for r in rows}


def _keep_first_surveys(db: Connection, accepted: Sequence[Candidate]) -> None:
    first: dict[tuple[str, str], dict[str, object]] = {}
    for c in accepted:
        for s in c.summary.surveys:
            key = (c.header.patient, s.instrument)
            if key not in first or s.date < first[key]["survey_date"]:  # type: ignore[operator]
                first[key] = {"patient": key[0], "instrument": key[1], "survey_date": s.date,
                              "envelope_id": c.header.id}
    if first:
        up = upsert(db, SurveyBaselineRow).values(list(first.values()))
        db.execute(up.on_conflict_do_update(
            index_elements=["patient", "instrument"],
            set_={"survey_date": up.excluded.survey_date, "envelope_id": up.excluded.envelope_id},
            where=SurveyBaselineRow.survey_date > up.excluded.survey_date))


def _refusal_entry(r: Refusal) -> audit.Entry:
    return audit.Entry(r.actor, "intake", r.entity, "refused",
                       {"code": r.error.code, "reason": str(r.error)[:300], "digest": r.digest}, r.received_at)


AtIntake = Callable[[Connection, Sequence[str], dt.datetime], object]


def write_batch(db: Connection, items: Sequence[Item], cache: RegistryCache,
                at_intake: AtIntake | None = None, active_days: int | None = None) -> list[Outcome | Exception]:
    """Decide and write a batch in the caller's transaction; one outcome (or Refused) per item, in order.

    `at_intake` then runs in the same transaction for the patients whose envelopes were accepted (the
    never-suppressed rules), so what it writes commits with the envelopes.
    """
    version = lock_registry(db)
    candidates = [i for i in items if isinstance(i, Candidate)]
    oldest = min((c.version for c in candidates if c.version is not None), default=version)
    changed = cache.observe(db, version, oldest)
    stored = stored_receipts(db, {c.digest for c in candidates}, active_days)
    guard = BatchReplayGuard(db, (c.header.sender for c in candidates), (c.header.id for c in candidates))
    outcomes: list[Outcome | Exception] = []
    entries: list[audit.Entry] = []
    accepted: list[Candidate] = []
    for item in items:
        if isinstance(item, Candidate):
            if item.digest in stored:
                outcomes.append((stored[item.digest], False))
                continue
            try:
                _admit(item, changed, cache, guard)
            except PrivacyError as exc:
                item = Refusal(item.digest, item.header.sender, f"Envelope/{item.header.id}", exc, item.received_at)
            else:
                h = item.header
                stored[item.digest] = made = receipt(h.id, h.patient, h.seq, item.digest, item.received_at,
                                                     item.summary.window_end, active_days)
                accepted.append(item)
                entries.append(audit.Entry(h.sender, "intake", f"Envelope/{h.id}", "ok",
                                           {"patient": h.patient, "seq": h.seq, "digest": item.digest},
                                           item.received_at))
                outcomes.append((made, True))
                continue
        entries.append(_refusal_entry(item))
        outcomes.append(Refused(item.error.code, str(item.error)))
    if accepted:
        db.execute(insert(EnvelopeRow), [
            {"id": c.header.id, "patient": c.header.patient, "sender": c.header.sender, "seq": c.header.seq,
             "digest": c.digest, "received_at": c.received_at, "window_end": c.summary.window_end,
             "summary": c.summary.model_dump_json()} for c in accepted])
    guard.flush()
    _keep_first_surveys(db, accepted)
    if at_intake is not None and accepted:  # before the audit: patients' rows are locked before the audit head,
        at_intake(db, [c.header.patient for c in accepted], max(c.received_at for c in accepted))  # as a cycle does
    audit.append(db, entries)
    return outcomes


def _admit(item: Candidate, changed: dict[str, int], cache: RegistryCache, guard: BatchReplayGuard) -> None:
    """Recheck the registry if the patient's entry changed since the envelope was opened; record it against replays."""
    h = item.header
    if item.version is None or changed.get(h.patient, -1) > item.version:
        cache.authorise(h.patient, h.sender, h.created_at)
        cache.consent(h.patient, item.needs, item.received_at)
    guard.record(h.sender, h.seq, h.id)
