"""Changing a triage item for someone: find and lock it, store the change with its audit entry, record feedback.

Shared by every place a queue item is acted on: the JSON API, the inbox page's forms and CDS Hooks feedback,
so each change is checked (panel and consent), serialised (the patient's row lock) and audited the same way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, repository
from .access import read_patient
from .auth import Principal
from .db import FeedbackRow
from .service import Hub
from .triage import Feedback, Outcome, QueueItem


def locked_item(session: Session, hub: Hub, who: Principal, item_id: str, what: str) -> QueueItem:
    """The item, after checking the caller may read its patient (audited) and locking the patient's row."""
    item = repository.get_item(session, item_id)
    if item is None:
        raise LookupError(f"queue item {item_id} does not exist")
    read_patient(session, hub, who, item.patient, what)
    repository.lock_patient(session, item.patient)
    fresh = repository.get_item(session, item_id)
    if fresh is None:
        raise LookupError(f"queue item {item_id} does not exist")
    return fresh


def save_item(session: Session, who: Principal, item: QueueItem, what: str, detail: dict[str, object]) -> QueueItem:
    """Store a changed item with its audit entry, and commit."""
    repository.save_items(session, [item])
    audit.record(session, who.name, f"triage.{what}", f"QueueItem/{item.id}", "ok", detail)
    session.commit()
    return item


def record_feedback(session: Session, actor: str, item_id: str, rule_id: str, outcome: Outcome, reason: str,
                    at: dt.datetime) -> bool:
    """Store a response to an item's rule with its audit entry (not committed); False if this exact response
    (same item, responder and time) was stored before, as when an EHR resends its feedback."""
    seen = session.scalar(select(FeedbackRow.id).where(FeedbackRow.item_id == item_id, FeedbackRow.by == actor,
                                                       FeedbackRow.at == at))
    if seen is not None:
        return False
    repository.add_feedback(session, Feedback(item_id, rule_id, outcome, reason, at), actor)
    audit.record(session, actor, "triage.feedback", f"QueueItem/{item_id}", "ok",
                 {"outcome": outcome, "rule": rule_id})
    return True
