"""Triage: few, right alerts. Merge directives per patient and action, escalate, snooze, ration interruptions.

The policy is data (`triage-policy.yaml`): how many interruptive alerts a clinician receives per day,
which tiers may interrupt, when unacknowledged items escalate, how long each tier may be snoozed.
Critical items bypass the budget; items over the budget go to the digest in priority order; nothing is
ever dropped. Items raised by a never-suppressed rule (PHQ-9 item 9) can be neither snoozed nor budgeted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..summary import TIERS, Directive, Tier
from .pathway_model import Pathway, parse_duration

DEFAULT_POLICY = Path(__file__).with_name("pathways") / "triage-policy.yaml"
Status = Literal["open", "acknowledged", "snoozed", "resolved"]
Outcome = Literal["accepted", "overridden"]


class TriageError(ValueError):
    """A triage request that the policy refuses (e.g. snoozing a never-suppressed item)."""


class TriagePolicy(BaseModel):
    """Budgets, escalation and snooze limits, read from YAML that a clinical lead owns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(min_length=1)]
    interruptive_budget_per_day: Annotated[int, Field(ge=0)]
    interruptive_tiers: list[Tier]
    escalate_after: dict[Tier, str]
    snooze_max: dict[Tier, str]

    @field_validator("escalate_after", "snooze_max")
    @classmethod
    def _durations(cls, v: dict[Tier, str]) -> dict[Tier, str]:
        for text in v.values():
            parse_duration(text)
        return v

    @classmethod
    def from_file(cls, path: Path = DEFAULT_POLICY) -> TriagePolicy:
        """Load and validate a policy file."""
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def rank(tier: Tier) -> int:
    """0 for critical … 3 for info."""
    return TIERS.index(tier)


@dataclass(frozen=True)
class QueueItem:
    """One open concern about one patient: every directive with the same action merges into it."""

    id: str
    patient: str
    action: str
    tier: Tier
    directive: Directive
    directive_ids: tuple[str, ...]
    rule_ids: tuple[str, ...]
    opened_at: dt.datetime
    updated_at: dt.datetime
    status: Status = "open"
    never_suppressed: bool = False
    snoozed_until: dt.datetime | None = None
    snooze_reason: str = ""
    escalations: int = 0
    history: tuple[str, ...] = field(default=())
    first_due: dt.datetime | None = None  # the earliest due time of its merged directives

    @property
    def due(self) -> dt.datetime:
        """When the item is due (the earliest of its merged directives)."""
        return min(self.first_due, self.directive.due) if self.first_due is not None else self.directive.due

    def is_active(self, now: dt.datetime) -> bool:
        """Open, or snoozed with the snooze over."""
        if self.status == "open":
            return True
        return self.status == "snoozed" and self.snoozed_until is not None and self.snoozed_until <= now


def item_id(patient: str, action: str, opened_at: dt.datetime) -> str:
    """A stable id for a patient's concern opened at a given time."""
    digest = hashlib.sha256(f"{patient}|{action}|{opened_at.isoformat()}".encode()).hexdigest()
    return f"item-{digest[:24]}"


def merge(items: Sequence[QueueItem], directives: Iterable[Directive], now: dt.datetime,
          never_suppressed_rules: frozenset[str] = frozenset()) -> list[QueueItem]:
    """Fold new directives into the queue: one live item per (patient, action); the higher tier wins.

    The item shows the newest directive of its highest tier (the latest evidence) and stays due at the earliest
    due time of all it merged. A higher-tier directive reopens a snoozed item; a never-suppressed one reopens it
    whatever its tier.
    Returns the whole queue, changed items replaced.
    """
    live = {(i.patient, i.action): i for i in items if i.status != "resolved"}
    out = {i.id: i for i in items}
    for d in directives:
        key = (d.patient, d.action)
        critical_rule = d.rule_id in never_suppressed_rules
        current = live.get(key)
        if current is None:
            new = QueueItem(id=item_id(d.patient, d.action, now), patient=d.patient, action=d.action, tier=d.tier,
                            directive=d, directive_ids=(d.id,), rule_ids=(d.rule_id,), opened_at=now,
                            updated_at=now, never_suppressed=critical_rule, history=(f"{now.isoformat()} opened",))
            live[key] = out[new.id] = new
            continue
        if d.id in current.directive_ids:
            continue
        higher = rank(d.tier) < rank(current.tier)
        reopen = current.status == "snoozed" and (higher or critical_rule)
        note = f"{now.isoformat()} merged {d.rule_id} ({d.tier})" + ("; reopened from snooze" if reopen else "")
        lower = rank(d.tier) > rank(current.tier)
        keep = d if higher or (not lower and d.created_at >= current.directive.created_at) else current.directive
        merged = replace(current, tier=d.tier if higher else current.tier, directive=keep,
                         directive_ids=(*current.directive_ids, d.id),
                         rule_ids=tuple(dict.fromkeys((*current.rule_ids, d.rule_id))), updated_at=now,
                         status="open" if reopen else current.status,
                         never_suppressed=current.never_suppressed or critical_rule,
                         snoozed_until=None if reopen else current.snoozed_until,
                         history=(*current.history, note), first_due=min(current.due, d.due))
        live[key] = out[merged.id] = merged
    return list(out.values())


def resolve_cleared(items: Sequence[QueueItem], firing: set[tuple[str, str]], now: dt.datetime) -> list[QueueItem]:
    """Resolve unacknowledged routine and info items whose rules stopped firing; urgent and critical stay."""
    out = []
    for i in items:
        stale = i.status in ("open", "snoozed") and (i.patient, i.action) not in firing
        if stale and rank(i.tier) >= rank("routine") and not i.never_suppressed:
            i = replace(i, status="resolved", updated_at=now, history=(*i.history, f"{now.isoformat()} cleared"))
        out.append(i)
    return out


def withdraw(items: Sequence[QueueItem], superseded: set[str], now: dt.datetime) -> list[QueueItem]:
    """Resolve unresolved items every directive of which was superseded by later data (the others unchanged)."""
    out = []
    for i in items:
        if i.status != "resolved" and superseded and set(i.directive_ids) <= superseded:
            i = replace(i, status="resolved", updated_at=now,
                        history=(*i.history, f"{now.isoformat()} withdrawn: later data superseded its directives"))
        out.append(i)
    return out


def escalate(items: Sequence[QueueItem], policy: TriagePolicy, now: dt.datetime) -> list[QueueItem]:
    """Raise by one tier every active item left unacknowledged past its tier's escalation time."""
    out = []
    for i in items:
        after = policy.escalate_after.get(i.tier)
        waited_since = i.updated_at if i.escalations else i.opened_at
        if after and i.is_active(now) and now - waited_since >= parse_duration(after) and i.tier != "critical":
            up = TIERS[rank(i.tier) - 1]
            i = replace(i, tier=up, escalations=i.escalations + 1, updated_at=now, status="open",
                        history=(*i.history, f"{now.isoformat()} escalated to {up} (unacknowledged {after})"))
        out.append(i)
    return out


def snooze(item: QueueItem, until: dt.datetime, reason: str, policy: TriagePolicy, now: dt.datetime) -> QueueItem:
    """Snooze an item with a reason, within its tier's limit; never-suppressed items refuse."""
    if item.never_suppressed:
        raise TriageError("this item comes from a never-suppressed rule (e.g. PHQ-9 item 9) and cannot be snoozed")
    if not reason.strip():
        raise TriageError("a snooze needs a reason")
    limit = parse_duration(policy.snooze_max[item.tier])
    if until - now > limit:
        raise TriageError(f"{item.tier} items may be snoozed for at most {policy.snooze_max[item.tier]}")
    return replace(item, status="snoozed", snoozed_until=until, snooze_reason=reason.strip(), updated_at=now,
                   history=(*item.history, f"{now.isoformat()} snoozed until {until.isoformat()}: {reason.strip()}"))


def acknowledge(item: QueueItem, by: str, now: dt.datetime) -> QueueItem:
    """Mark an item acknowledged by a clinician."""
    return replace(item, status="acknowledged", updated_at=now,
                   history=(*item.history, f"{now.isoformat()} acknowledged by {by}"))


@dataclass(frozen=True)
class Delivery:
    """How a clinician's active items reach them now: interruptive alerts and the digest, both ordered."""

    interruptive: list[QueueItem]
    digest: list[QueueItem]


def priority(item: QueueItem) -> tuple[int, dt.datetime, dt.datetime]:
    """The order interruptions are shown in: tier, then due time, then opening time."""
    return rank(item.tier), item.due, item.opened_at


def deliver(items: Sequence[QueueItem], policy: TriagePolicy, interrupted_today: int, now: dt.datetime) -> Delivery:
    """Split active items into interruptive alerts (within the daily budget; critical bypasses) and the digest."""
    active = sorted((i for i in items if i.is_active(now)), key=priority)
    budget = max(0, policy.interruptive_budget_per_day - interrupted_today)
    interruptive, digest = [], []
    for i in active:
        if i.tier == "critical" or i.never_suppressed:
            interruptive.append(i)
        elif i.tier in policy.interruptive_tiers and budget > 0:
            interruptive.append(i)
            budget -= 1
        else:
            digest.append(i)
    return Delivery(interruptive, digest)


@dataclass(frozen=True)
class Feedback:
    """A clinician's response to an item's card or alert."""

    item_id: str
    rule_id: str
    outcome: Outcome
    reason: str
    at: dt.datetime


@dataclass(frozen=True)
class RuleStats:
    """How often a rule's items were accepted or overridden."""

    rule_id: str
    shown: int
    overridden: int

    @property
    def override_rate(self) -> float:
        """Share of responses that overrode the rule's suggestion."""
        return self.overridden / self.shown if self.shown else 0.0


def override_rates(feedback: Iterable[Feedback], pathway: Pathway | None = None) -> list[RuleStats]:
    """Per-rule override statistics, noisiest first, so a pathway owner can retire noisy rules."""
    shown: Counter[str] = Counter()
    overridden: Counter[str] = Counter()
    for f in feedback:
        shown[f.rule_id] += 1
        overridden[f.rule_id] += f.outcome == "overridden"
    rules = [r.id for r in pathway.rules] if pathway else list(shown)
    stats = [RuleStats(r, shown[r], overridden[r]) for r in dict.fromkeys([*rules, *shown])]
    return sorted(stats, key=lambda s: (-s.override_rate, -s.shown, s.rule_id))
