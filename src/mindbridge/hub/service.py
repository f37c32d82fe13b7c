"""The hub as one object: settings, database, intake, and the directive cycle.

The cycle, for one patient: read their recent summaries, evaluate the pathway (with the rules that were
active last time, for hysteresis), fold the directives into the triage queue (merge, clear what stopped
firing, escalate what waited too long), and store directives, items and the audit entry in one
transaction that starts by locking the patient's row, so two cycles for one patient never interleave.
It runs after every accepted envelope and, for everyone, whenever `cycle_all` is called (a week without
data produces no envelope, so only a later cycle can see the gap). After the transaction commits, the
new directives are handed to every registered sink: the seam where FHIR and CDS Hooks delivery attach.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..privacy.keys import Identity
from ..summary import Directive
from . import audit, repository
from .db import PatientRow, make_engine, migrate, sessions
from .intake import Intake, Receipt
from .pathways import DEFAULT_PATHWAY, PathwayEngine, PatientHistory
from .triage import DEFAULT_POLICY, QueueItem, TriagePolicy, escalate, merge, resolve_cleared

DirectiveSink = Callable[[list[Directive]], None]


class Settings(BaseModel):
    """What a hub needs to start (no secrets: the clinic's passphrase is passed separately)."""

    model_config = ConfigDict(frozen=True)
    database_url: str
    pathway: Path = DEFAULT_PATHWAY
    policy: Path = DEFAULT_POLICY
    history_days: int = 90


@dataclass
class Hub:
    """A running hub: its clinic identity, database, pathway, triage policy and directive sinks."""

    settings: Settings
    clinic: Identity
    engine: Engine
    sessions: sessionmaker[Session]
    pathway: PathwayEngine
    policy: TriagePolicy
    intake: Intake
    sinks: list[DirectiveSink] = field(default_factory=list)

    @classmethod
    def start(cls, settings: Settings, clinic: Identity) -> Hub:
        """Connect, migrate the schema to the newest revision, and load the pathway and policy."""
        engine = make_engine(settings.database_url)
        migrate(engine)
        factory = sessions(engine)
        return cls(settings, clinic, engine, factory, PathwayEngine.from_file(settings.pathway),
                   TriagePolicy.from_file(settings.policy), Intake(clinic, factory))

    @property
    def never_suppressed(self) -> frozenset[str]:
        """Rules whose items no budget or snooze may hold back."""
        return frozenset(r.id for r in self.pathway.pathway.rules if r.never_suppressed)

    def receive(self, data: bytes, now: dt.datetime | None = None) -> tuple[Receipt, bool]:
        """Take in one envelope (is it new?); a new one runs its patient's cycle before the receipt is returned."""
        now = now or dt.datetime.now(dt.UTC)
        receipt, new = self.intake.receive(data, now)
        if new:
            self.run_cycle(receipt.patient, now)
        return receipt, new

    def run_cycle(self, patient: str, now: dt.datetime) -> list[QueueItem]:
        """Evaluate one patient's pathway and update their queue; returns the items that changed."""
        with self.sessions() as session:
            active, enrolled = repository.lock_patient(session, patient)
            history = PatientHistory(patient, repository.history(session, patient, now, self.settings.history_days),
                                     frozenset(active), enrolled)
            directives = self.pathway.evaluate(history, now)
            before = repository.open_items(session, [patient])
            queue = merge(before, directives, now, self.never_suppressed)
            queue = resolve_cleared(queue, {(d.patient, d.action) for d in directives}, now)
            queue = escalate(queue, self.policy, now)
            changed = [i for i in queue if i not in before]
            new = repository.save_directives(session, directives)
            repository.save_items(session, changed)
            session.execute(update(PatientRow).where(PatientRow.did == patient)
                            .values(active_rules=sorted({d.rule_id for d in directives}), evaluated_at=now))
            if new or changed:
                audit.record(session, "hub", "directive", f"Patient/{patient}", "ok",
                             {"directives": [d.id for d in new], "items": {i.id: i.status for i in changed}}, now)
            session.commit()
        if new:
            for sink in self.sinks:
                sink(new)
        return changed

    def cycle_all(self, now: dt.datetime) -> int:
        """Run the cycle for every enrolled patient; returns how many queue items changed."""
        with self.sessions() as session:
            patients = list(session.scalars(select(PatientRow.did).order_by(PatientRow.did)))
        return sum(len(self.run_cycle(p, now)) for p in patients)
