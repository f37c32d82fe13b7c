"""The hub's tables (SQLAlchemy 2) and engines: SQLite in WAL mode by default, PostgreSQL by URL.

The schema itself is created and upgraded only by the Alembic migrations in `migrations/` (`migrate`),
run at every start-up; these models are how the code reads and writes it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).with_name("migrations")
DID = String(256)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the hub stores only timezone-aware datetimes")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        """Read back as UTC-aware."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Base of every hub table."""


class PatientRow(Base):
    """An enrolled patient: their signed device list (for the roster) and the pathway's memory of them."""

    __tablename__ = "patients"
    did: Mapped[str] = mapped_column(DID, primary_key=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    device_list: Mapped[str] = mapped_column(Text)
    device_list_version: Mapped[int] = mapped_column(Integer)
    active_rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    evaluated_through: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # the replay's last day
    evaluated_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # summaries it had then
    label: Mapped[str] = mapped_column(String(120), default="", server_default="")  # set at enrolment


class ConsentRow(Base):
    """A consent grant held by the clinic (the signed JWT and the fields needed to find it)."""

    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    patient: Mapped[str] = mapped_column(DID, ForeignKey("patients.did"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    status_list: Mapped[str] = mapped_column(String(256))
    expires: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    token: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class StatusListRow(Base):
    """The newest signed revocation status list of a patient's grants."""

    __tablename__ = "status_lists"
    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    issuer: Mapped[str] = mapped_column(DID, index=True)
    issued: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    token: Mapped[str] = mapped_column(Text)


class EnvelopeRow(Base):
    """An accepted envelope: its header fields, the digest of its bytes, its receipt and the opened summary."""

    __tablename__ = "envelopes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient: Mapped[str] = mapped_column(DID)
    sender: Mapped[str] = mapped_column(DID)
    seq: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[dt.date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_envelopes_patient_window", "patient", "window_end"),)


class ReplayHighestRow(Base):
    """The highest sequence number accepted from each sending device."""

    __tablename__ = "replay_highest"
    sender: Mapped[str] = mapped_column(DID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class ReplaySeenRow(Base):
    """Every envelope id ever accepted (an id may never come back)."""

    __tablename__ = "replay_seen"
    envelope_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sender: Mapped[str] = mapped_column(DID)


class DirectiveRow(Base):
    """A directive the pathway produced (the full Directive as JSON)."""

    __tablename__ = "directives"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient: Mapped[str] = mapped_column(DID, index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    body: Mapped[str] = mapped_column(Text)
    # set when later data changed the evaluation that raised it (kept for the audit, no longer in force)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class QueueItemRow(Base):
    """A triage queue item (the full QueueItem as JSON, key fields as columns for queries)."""

    __tablename__ = "queue_items"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient: Mapped[str] = mapped_column(DID, index=True)
    action: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    never_suppressed: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    body: Mapped[str] = mapped_column(Text)


class FeedbackRow(Base):
    """A clinician's response to a queue item: accepted or overridden, and why."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(64), ForeignKey("queue_items.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class UserRow(Base):
    """A clinician or administrator; only the SHA-256 of their bearer token is kept."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PanelRow(Base):
    """A patient on a clinician's panel."""

    __tablename__ = "panels"
    clinician: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"), primary_key=True)
    patient: Mapped[str] = mapped_column(DID, ForeignKey("patients.did"), primary_key=True)


class AuditRow(Base):
    """One entry of the append-only, hash-chained audit log."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's head (one row): the last sequence number and hash; its row lock orders appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class HubStateRow(Base):
    """One row: the registry version, bumped by every change to enrolments, device lists and consents.

    The intake's writer locks this row for each batch, so a batch commits either wholly before a registry
    change or after it, and knows when the opener's cached view of the registry went stale.
    """

    __tablename__ = "hub_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    registry_version: Mapped[int] = mapped_column(BigInteger)


def advance_registry(db: Connection | Session, step: int) -> int:
    """Lock the registry row for the transaction, add `step` (0 or 1) to its version; the version after."""
    return int(db.execute(update(HubStateRow).where(HubStateRow.id == 1)
                          .values(registry_version=HubStateRow.registry_version + step)
                          .returning(HubStateRow.registry_version)).scalar_one())


class RegistryChangeRow(Base):
    """Which patient's registry entry (enrolment, device list, grants, status lists) each version changed."""

    __tablename__ = "registry_changes"
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    patient: Mapped[str] = mapped_column(DID)


class InterruptionRow(Base):
    """An item shown to a clinician as an interruptive alert on a clinic-local day (counts against the budget)."""

    __tablename__ = "interruptions"
    clinician: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class SurveyBaselineRow(Base):
    """The envelope that carried a patient's first-ever administration of an instrument (response baseline)."""

    __tablename__ = "survey_baselines"
    patient: Mapped[str] = mapped_column(DID, primary_key=True)
    instrument: Mapped[str] = mapped_column(String(64), primary_key=True)
    survey_date: Mapped[dt.date] = mapped_column(Date)
    envelope_id: Mapped[str] = mapped_column(String(36))


class CycleFailureRow(Base):
    """A patient whose directive cycle failed: the stage and error, attempts so far, and the next retry."""

    __tablename__ = "cycle_failures"
    patient: Mapped[str] = mapped_column(DID, ForeignKey("patients.did"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_retry_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


def upsert(db: Connection | Session, table: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT … ON CONFLICT for the dialect in use (PostgreSQL or SQLite), for bulk upserts."""
    dialect = db.get_bind().dialect if isinstance(db, Session) else db.dialect
    return (postgresql if dialect.name == "postgresql" else sqlite).insert(table)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite+pysqlite:///{path.resolve()}"


def _sqlite_pragmas(dbapi_connection: object, record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")  # a committed transaction survives a killed process
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process crashes, not power loss
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for a SQLite file or PostgreSQL URL (psycopg 3), with the pragmas SQLite needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("the hub needs a SQLite file (WAL mode), not an in-memory database")
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    raise ValueError(f"unsupported database URL {parsed.render_as_string()!r}: use sqlite:/// or postgresql://")


def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest Alembic revision (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
