"""The per-clinician daily budget of interruptive alerts, counted in the database per clinic-local day.

`triage.deliver` rations one request's items given how many interruptions the clinician already had
today. Here "already had" is real: every budgeted item shown as interruptive is recorded once per
clinician and day, so acknowledging alerts does not free the budget, a fourth urgent item on the same
day waits in the digest, and critical or never-suppressed items (which bypass the budget) are not counted.
An item shown as an interruption stays one for the rest of the day while it is active.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from . import repository
from .triage import Delivery, QueueItem, TriagePolicy, deliver, priority


def counts_against_budget(item: QueueItem) -> bool:
    """Whether showing this item as an interruption uses the budget (critical and never-suppressed do not)."""
    return item.tier != "critical" and not item.never_suppressed


def ration(items: Sequence[QueueItem], policy: TriagePolicy, shown_today: set[str], now: dt.datetime) -> Delivery:
    """Split items given those already shown as budgeted interruptions today (they stay interruptive)."""
    shown = [i for i in items if i.id in shown_today and i.is_active(now)]
    fresh = deliver([i for i in items if i.id not in shown_today], policy, len(shown_today), now)
    interruptive = sorted([*shown, *fresh.interruptive], key=priority)
    return Delivery(interruptive, fresh.digest)


def deliver_today(session: Session, clinician: str, day: dt.date, items: Sequence[QueueItem],
                  policy: TriagePolicy, now: dt.datetime) -> Delivery:
    """Ration a clinician's items against the day's recorded interruptions and record the new ones."""
    repository.lock_clinician(session, clinician)
    shown = repository.interrupted(session, clinician, day)
    delivery = ration(items, policy, shown, now)
    new = [i.id for i in delivery.interruptive if counts_against_budget(i) and i.id not in shown]
    repository.add_interruptions(session, clinician, day, new, now)
    return delivery
