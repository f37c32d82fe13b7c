"""Reading and writing the hub's records: received summaries, directives, queue items and feedback.

Queue items and directives are stored whole as JSON (pydantic's serialisation of the frozen types the
pathway and triage modules use) beside the columns queries need, so what is read back equals what was
written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import case, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..summary import Directive, RiskSummary
from .db import (
    CycleFailureRow,
    DirectiveRow,
    EnvelopeRow,
    FeedbackRow,
    InterruptionRow,
    PatientRow,
    QueueItemRow,
    SurveyBaselineRow,
    UserRow,
    upsert,
)
from .ehr_tables import OutboxRow
from .pathways import Received
from .timeline import Memory
from .triage import Feedback, QueueItem

CYCLE_LOCK = 0x6D62_6379  # PostgreSQL advisory lock key of multi-patient cycles ("mbcy")
_ITEM = TypeAdapter(QueueItem)


def item_json(item: QueueItem) -> str:
    """A queue item as JSON text."""
    return _ITEM.dump_json(item).decode("utf-8")


@lru_cache(maxsize=16_384)
def item_of(text: str) -> QueueItem:
    """A queue item from its JSON text (frozen, so equal texts share one parsed item)."""
    return _ITEM.validate_json(text)


@lru_cache(maxsize=65_536)
def summary_of(text: str) -> RiskSummary:
    """A stored summary from its JSON text (stored summaries never change: each is parsed once per process)."""
    return RiskSummary.model_validate_json(text)


def lock_patient(session: Session, patient: str) -> None:
    """Lock a patient's row for the rest of the transaction; LookupError when they are not enrolled."""
    locked = session.execute(update(PatientRow).where(PatientRow.did == patient).values(did=PatientRow.did)
                             .returning(PatientRow.did)).one_or_none()
    if locked is None:
        raise LookupError(f"patient {patient} is not enrolled")


def history(session: Session, patient: str, now: dt.datetime, days: int) -> list[Received]:
    """The patient's readable summaries whose window ended within `days` days before `now` (oldest first)."""
    return histories(session, [patient], now, days)[0][patient]


def histories(session: Session, patients: Sequence[str], now: dt.datetime,
              days: int) -> tuple[dict[str, list[Received]], dict[str, str]]:
    """Each patient's summaries whose window ended within `days` days before `now` (oldest first), one query;
    and, for a patient with a stored summary that no longer reads as one, the first such error."""
    since = now.date() - dt.timedelta(days=days)
    rows = session.execute(select(EnvelopeRow.patient, EnvelopeRow.id, EnvelopeRow.summary)
                           .where(EnvelopeRow.patient.in_(patients), EnvelopeRow.window_end >= since,
                                  EnvelopeRow.window_end <= now.date())
                           .order_by(EnvelopeRow.window_end, EnvelopeRow.received_at))
    return _by_patient(patients, rows)


def first_surveys(session: Session, patients: Sequence[str]) -> tuple[dict[str, list[Received]], dict[str, str]]:
    """For each patient, the summaries that carried their first-ever administration of each instrument (and
    the unreadable ones' errors)."""
    rows = session.execute(select(SurveyBaselineRow.patient, EnvelopeRow.id, EnvelopeRow.summary)
                           .join(SurveyBaselineRow, SurveyBaselineRow.envelope_id == EnvelopeRow.id)
                           .where(SurveyBaselineRow.patient.in_(patients)).order_by(SurveyBaselineRow.instrument))
    return _by_patient(patients, rows)


def _by_patient(patients: Sequence[str],
                rows: Iterable[tuple[str, str, str]]) -> tuple[dict[str, list[Received]], dict[str, str]]:
    """(patient, envelope id, summary JSON) rows as each patient's received summaries, in row order; a row that
    no longer validates is left out and named in the second mapping (one patient's bad row stops no other)."""
    out: dict[str, list[Received]] = {p: [] for p in patients}
    bad: dict[str, str] = {}
    for patient, envelope_id, body in rows:
        try:
            out[patient].append(Received(envelope_id, summary_of(body)))
        except ValueError as exc:
            bad.setdefault(patient, f"stored summary {envelope_id} does not validate "
                                    f"({exc.errors()[0]['loc'] if isinstance(exc, ValidationError) else exc})")
    return out, bad


@dataclass(frozen=True)
class Locked:
    """A locked patient's row: enrolment time and what their last evaluation left (`timeline.Memory`)."""

    enrolled_at: dt.datetime
    memory: Memory


def lock_patients(session: Session, patients: Sequence[str]) -> dict[str, Locked]:
    """Lock enrolled patients' rows for the transaction; their enrolment and last evaluation (others skipped).

    On PostgreSQL a transaction-scoped advisory lock first orders multi-patient lockers, so two processes'
    cycles over overlapping sets cannot deadlock; on SQLite the write lock already orders everything.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CYCLE_LOCK)))
    rows = session.execute(update(PatientRow).where(PatientRow.did.in_(patients)).values(did=PatientRow.did)
                           .returning(PatientRow.did, PatientRow.enrolled_at, PatientRow.evaluated_through,
                                      PatientRow.active_rules, PatientRow.evaluated_count))
    return {did: Locked(enrolled, Memory(through, frozenset(active or ()), count or 0))
            for did, enrolled, through, active, count in rows}


def summary_counts(session: Session, patients: Sequence[str], today: dt.date) -> dict[str, tuple[int, int]]:
    """Per patient, how many summaries they have in all up to their last evaluated day, and up to `today`."""
    upto_through = func.sum(case((EnvelopeRow.window_end <= PatientRow.evaluated_through, 1), else_=0))
    upto_today = func.sum(case((EnvelopeRow.window_end <= today, 1), else_=0))
    rows = session.execute(select(EnvelopeRow.patient, upto_through, upto_today)
                           .join(PatientRow, PatientRow.did == EnvelopeRow.patient)
                           .where(EnvelopeRow.patient.in_(patients)).group_by(EnvelopeRow.patient))
    counts = {p: (0, 0) for p in patients}
    counts.update({p: (int(a or 0), int(b or 0)) for p, a, b in rows})
    return counts


def mark_evaluated(session: Session, memories: Mapping[str, Memory], now: dt.datetime) -> None:
    """Remember each patient's last evaluated day, its firing rules (hysteresis) and summary count, and when."""
    if memories:
        session.execute(update(PatientRow), [
            {"did": p, "active_rules": sorted(m.active), "evaluated_through": m.through, "evaluated_count": m.count,
             "evaluated_at": now} for p, m in memories.items()])


def directive_states(session: Session, patients: Sequence[str],
                     since: dt.datetime) -> dict[str, dict[str, tuple[dt.datetime, bool]]]:
    """Per patient, their directives created since `since`: id → (created at, superseded)."""
    out: dict[str, dict[str, tuple[dt.datetime, bool]]] = {p: {} for p in patients}
    rows = session.execute(select(DirectiveRow.patient, DirectiveRow.id, DirectiveRow.created_at,
                                  DirectiveRow.superseded_at)
                           .where(DirectiveRow.patient.in_(patients), DirectiveRow.created_at >= since))
    for patient, directive, created, superseded in rows:
        out[patient][directive] = (created, superseded is not None)
    return out


def supersede(session: Session, directive_ids: Sequence[str], now: dt.datetime) -> None:
    """Mark directives as no longer in force (later data changed the evaluation that raised them): one not yet
    pushed to the EHR never will be; one pushed is queued to be withdrawn there."""
    if not directive_ids:
        return
    ids = list(directive_ids)
    session.execute(update(DirectiveRow).where(DirectiveRow.id.in_(ids)).values(superseded_at=now))
    session.execute(delete(OutboxRow).where(OutboxRow.directive_id.in_(ids), OutboxRow.pushed_at.is_(None)))
    session.execute(update(OutboxRow).where(OutboxRow.directive_id.in_(ids))
                    .values(mode="withdraw", pushed_at=None, next_attempt_at=now, attempts=0, lease_until=None))


def patients(session: Session) -> list[str]:
    """Every enrolled patient."""
    return list(session.scalars(select(PatientRow.did).order_by(PatientRow.did)))


def patients_to_sweep(session: Session, evaluated_before: dt.datetime) -> list[str]:
    """Patients not evaluated since `evaluated_before`, or sent an envelope after their last evaluation."""
    newer = exists().where(EnvelopeRow.patient == PatientRow.did, EnvelopeRow.received_at > PatientRow.evaluated_at)
    stale = or_(PatientRow.evaluated_at.is_(None), PatientRow.evaluated_at < evaluated_before, newer)
    return list(session.scalars(select(PatientRow.did).where(stale).order_by(PatientRow.did)))


def open_items(session: Session, patients: Iterable[str]) -> list[QueueItem]:
    """Every queue item not yet resolved for these patients."""
    rows = session.scalars(select(QueueItemRow.body).where(QueueItemRow.patient.in_(list(patients)),
                                                           QueueItemRow.status != "resolved"))
    return [item_of(body) for body in rows]


def items_of(session: Session, patient: str) -> list[QueueItem]:
    """Every queue item of a patient, resolved ones included, the most recently changed first."""
    rows = session.scalars(select(QueueItemRow.body).where(QueueItemRow.patient == patient)
                           .order_by(QueueItemRow.updated_at.desc()))
    return [item_of(body) for body in rows]


def open_items_of(session: Session, patients: Sequence[str]) -> dict[str, list[QueueItem]]:
    """Each patient's unresolved queue items."""
    out: dict[str, list[QueueItem]] = {p: [] for p in patients}
    for item in open_items(session, patients):
        out[item.patient].append(item)
    return out


def record_failures(session: Session, failures: Mapping[str, tuple[str, str]], now: dt.datetime,
                    first: dt.timedelta, longest: dt.timedelta) -> None:
    """Record each patient's failed evaluation (stage, error); the next retry waits `first`, doubling to `longest`."""
    if not failures:
        return
    known = {r.patient: r for r in session.scalars(select(CycleFailureRow)
                                                   .where(CycleFailureRow.patient.in_(list(failures))))}
    for patient, (stage, error) in failures.items():
        row = known.get(patient) or CycleFailureRow(patient=patient, attempts=0, first_failed_at=now)
        row.attempts += 1
        row.stage, row.error, row.last_failed_at = stage, error, now
        row.next_retry_at = now + min(first * 2 ** min(row.attempts - 1, 30), longest)
        session.add(row)
    session.flush()


def clear_failures(session: Session, patients: Sequence[str]) -> None:
    """Forget the failures of patients whose cycle has now succeeded."""
    if patients:
        session.execute(delete(CycleFailureRow).where(CycleFailureRow.patient.in_(list(patients))))


def failures_due(session: Session, now: dt.datetime) -> list[str]:
    """Failed patients whose retry is due."""
    return list(session.scalars(select(CycleFailureRow.patient).where(CycleFailureRow.next_retry_at <= now)
                                .order_by(CycleFailureRow.patient)))


def cycle_failures(session: Session) -> list[CycleFailureRow]:
    """Every patient whose directive cycle is failing, the most recent failure first."""
    return list(session.scalars(select(CycleFailureRow).order_by(CycleFailureRow.last_failed_at.desc(),
                                                                 CycleFailureRow.patient)))


def get_item(session: Session, item_id: str) -> QueueItem | None:
    """One queue item by id."""
    row = session.get(QueueItemRow, item_id)
    return None if row is None else item_of(row.body)


def save_items(session: Session, items: Sequence[QueueItem]) -> None:
    """Insert or replace queue items (one upsert)."""
    if not items:
        return
    up = upsert(session, QueueItemRow).values([
        {"id": i.id, "patient": i.patient, "action": i.action, "tier": i.tier, "status": i.status,
         "never_suppressed": i.never_suppressed, "updated_at": i.updated_at, "body": item_json(i)} for i in items])
    session.execute(up.on_conflict_do_update(index_elements=["id"], set_={
        c: up.excluded[c] for c in ("patient", "action", "tier", "status", "never_suppressed", "updated_at", "body")}))


def save_directives(session: Session, directives: Sequence[Directive]) -> list[Directive]:
    """Store the directives not stored before, and put back in force those superseded; returns both."""
    rows = session.execute(select(DirectiveRow.id, DirectiveRow.superseded_at)
                           .where(DirectiveRow.id.in_([d.id for d in directives])))
    known = {i: superseded is not None for i, superseded in rows}
    again = [i for i, superseded in known.items() if superseded]
    if again:  # in force again: a withdrawal still queued is dropped, a done one restored
        session.execute(update(DirectiveRow).where(DirectiveRow.id.in_(again)).values(superseded_at=None))
        session.execute(delete(OutboxRow).where(OutboxRow.directive_id.in_(again), OutboxRow.pushed_at.is_(None)))
        session.execute(update(OutboxRow).where(OutboxRow.directive_id.in_(again))
                        .values(mode="restore", pushed_at=None, next_attempt_at=dt.datetime.now(dt.UTC), attempts=0,
                                lease_until=None))
    back = list({d.id: d for d in directives if known.get(d.id)}.values())
    new = list({d.id: d for d in directives if d.id not in known}.values())
    if new:
        session.execute(insert(DirectiveRow), [{"id": d.id, "patient": d.patient, "rule_id": d.rule_id,
                                                "tier": d.tier, "created_at": d.created_at,
                                                "body": d.model_dump_json()} for d in new])
    return new + back


def directives_of(session: Session, patient: str, limit: int = 200) -> list[Directive]:
    """A patient's directives in force (none superseded), newest first."""
    rows = session.scalars(select(DirectiveRow.body).where(DirectiveRow.patient == patient,
                                                           DirectiveRow.superseded_at.is_(None))
                           .order_by(DirectiveRow.created_at.desc()).limit(limit))
    return [Directive.model_validate_json(body) for body in rows]


def add_feedback(session: Session, feedback: Feedback, by: str) -> None:
    """Store a clinician's response to an item."""
    session.add(FeedbackRow(item_id=feedback.item_id, rule_id=feedback.rule_id, outcome=feedback.outcome,
                            reason=feedback.reason, by=by, at=feedback.at))


def all_feedback(session: Session) -> list[Feedback]:
    """Every stored response, oldest first."""
    rows = session.scalars(select(FeedbackRow).order_by(FeedbackRow.id))
    return [Feedback(r.item_id, r.rule_id, "accepted" if r.outcome == "accepted" else "overridden", r.reason, r.at)
            for r in rows]


def lock_clinician(session: Session, clinician: str) -> None:
    """Lock a clinician's row for the rest of the transaction (their budget is counted one request at a time)."""
    session.execute(update(UserRow).where(UserRow.name == clinician).values(name=UserRow.name))


def interrupted(session: Session, clinician: str, day: dt.date) -> set[str]:
    """The items shown to the clinician as budgeted interruptive alerts on a clinic-local day."""
    return set(session.scalars(select(InterruptionRow.item_id).where(InterruptionRow.clinician == clinician,
                                                                    InterruptionRow.day == day)))


def add_interruptions(session: Session, clinician: str, day: dt.date, item_ids: Iterable[str],
                      now: dt.datetime) -> None:
    """Count these items against the clinician's budget for the day."""
    session.add_all(InterruptionRow(clinician=clinician, day=day, item_id=i, at=now) for i in item_ids)
