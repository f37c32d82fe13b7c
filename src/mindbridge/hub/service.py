"""The hub as one object: settings, database, intake (with its writer thread), and the directive cycle.

An envelope is answered once it is stored (group commit, see `intake`); its patient's directive cycle
then runs in the background worker (`cycle.CycleWorker`), so the request path carries no pathway work.
`settle` waits for the background cycles (tests, benchmarks); `cycle_all` runs every patient's cycle now
(`POST /admin/cycle`, `mindbridge hub cycle`). New directives reach every function in `sinks` after
their transaction commits: the seam for FHIR and CDS Hooks delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..privacy.keys import Identity
from .cycle import CycleWorker, DirectiveCycle, DirectiveSink
from .db import make_engine, migrate, sessions
from .intake import Intake, Receipt
from .intake_batch import Item, Outcome
from .pathways import DEFAULT_PATHWAY, PathwayEngine
from .triage import DEFAULT_POLICY, TriagePolicy

__all__ = ["DirectiveSink", "Hub", "Settings"]


class Settings(BaseModel):
    """What a hub needs to start (no secrets: the clinic's passphrase is passed separately)."""

    model_config = ConfigDict(frozen=True)
    database_url: str
    pathway: Path = DEFAULT_PATHWAY
    policy: Path = DEFAULT_POLICY
    history_days: int = 90
    timezone: Annotated[str, Field(description="The clinic's IANA time zone: its days bound the alert budget")] = "UTC"
    cycle_debounce: Annotated[float, Field(ge=0, description="Seconds to gather a burst of changes")] = 0.2
    sweep_every: Annotated[float, Field(gt=0, description="Seconds between sweeps for data gaps")] = 3600.0
    max_batch: Annotated[int, Field(ge=1, description="Most envelopes written in one transaction")] = 512

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        ZoneInfo(v)  # raises for an unknown zone
        return v


def directive_cycle(settings: Settings, factory: sessionmaker[Session]) -> DirectiveCycle:
    """The directive cycle these settings describe (pathway, triage policy, history) on a database."""
    return DirectiveCycle(factory, PathwayEngine.from_file(settings.pathway), TriagePolicy.from_file(settings.policy),
                          settings.history_days)


@dataclass
class Hub:
    """A running hub: its clinic identity, database, intake, directive cycle and background worker."""

    settings: Settings
    clinic: Identity
    engine: Engine
    sessions: sessionmaker[Session]
    cycle: DirectiveCycle
    worker: CycleWorker
    intake: Intake

    @classmethod
    def start(cls, settings: Settings, clinic: Identity) -> Hub:
        """Connect, migrate the schema to the newest revision, load pathway and policy, start the threads."""
        engine = make_engine(settings.database_url)
        migrate(engine)
        factory = sessions(engine)
        cycle = directive_cycle(settings, factory)
        worker = CycleWorker(cycle, settings.cycle_debounce, settings.sweep_every)

        def committed(items: Sequence[Item], outcomes: Sequence[Outcome | Exception]) -> None:
            worker.mark({o[0].patient: o[0].received_at for o in outcomes if not isinstance(o, Exception) and o[1]})

        return cls(settings, clinic, engine, factory, cycle, worker,
                   Intake(clinic, engine, factory, committed, settings.max_batch, safety=cycle,
                          active_days=settings.history_days))

    @property
    def sinks(self) -> list[DirectiveSink]:
        """Called with each batch of new directives after it commits (append FHIR / CDS Hooks delivery here)."""
        return self.cycle.sinks

    @property
    def pathway(self) -> PathwayEngine:
        """The care pathway in use."""
        return self.cycle.pathway

    @property
    def policy(self) -> TriagePolicy:
        """The triage policy in use."""
        return self.cycle.policy

    def local_day(self, now: dt.datetime) -> dt.date:
        """The clinic-local date at `now`."""
        return now.astimezone(ZoneInfo(self.settings.timezone)).date()

    def receive(self, data: bytes, now: dt.datetime | None = None) -> tuple[Receipt, bool]:
        """Take in one envelope (is it new?); its patient's cycle follows in the background."""
        return self.intake.receive(data, now)

    def cycle_all(self, now: dt.datetime) -> int:
        """Run the cycle for every enrolled patient; returns how many queue items changed."""
        return self.cycle.run_all(now)

    def settle(self, timeout: float = 30) -> None:
        """Wait until the background cycles triggered so far have run."""
        self.worker.settle(timeout)

    def close(self) -> None:
        """Finish queued writes, stop the threads, release the database."""
        self.intake.close()
        self.worker.close()
        self.engine.dispose()
