"""The tables of the hub's EHR connection: the FHIR push outbox, patient links, CDS Hooks jti and cards.

Created by migration 0003 (`migrations/versions/0003_ehr_outbox_cds.py`); these models are how `ehr.py`
and `cds.py` read and write them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import DID, Base, UtcDateTime


class OutboxRow(Base):
    """A directive waiting to be pushed to the EHR's FHIR server (or pushed, when `pushed_at` is set)."""

    __tablename__ = "ehr_outbox"
    directive_id: Mapped[str] = mapped_column(String(64), ForeignKey("directives.id"), primary_key=True)
    patient: Mapped[str] = mapped_column(DID, index=True)
    tier_rank: Mapped[int] = mapped_column(Integer)
    enqueued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # "push"; "withdraw" when the directive was superseded after its push (its resources' statuses are set to
    # the withdrawn ones); "restore" when it came back in force after a withdrawal (pushed, statuses restored)
    mode: Mapped[str] = mapped_column(String(8), default="push", server_default="push")


class EhrLinkRow(Base):
    """An enrolled patient's resource id on the EHR's FHIR server (the chart CDS Hooks calls name)."""

    __tablename__ = "ehr_links"
    patient: Mapped[str] = mapped_column(DID, ForeignKey("patients.did"), primary_key=True)
    fhir_id: Mapped[str] = mapped_column(String(64), unique=True)
    linked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class EhrChartRow(Base):
    """What the linked EHR Patient said of a patient when last read: name, MRN, birth date (a cache)."""

    __tablename__ = "ehr_charts"
    patient: Mapped[str] = mapped_column(DID, ForeignKey("patients.did"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mrn: Mapped[str] = mapped_column(String(64))
    birth_date: Mapped[str] = mapped_column(String(10))
    fetched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RequestRow(Base):
    """A clinician's request from the inbox (send a PHQ-9, schedule a contact): pushed to the EHR as a Task."""

    __tablename__ = "clinician_requests"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient: Mapped[str] = mapped_column(DID, ForeignKey("patients.did"), index=True)
    item_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    due: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    priority: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class CdsJtiRow(Base):
    """A CDS Hooks bearer token's (issuer, jti), kept until the token expires: a second use is a replay."""

    __tablename__ = "cds_jti"
    issuer: Mapped[str] = mapped_column(String(256), primary_key=True)
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class CdsCardRow(Base):
    """A card the hub returned to an EHR, so feedback on its uuid finds the queue item and rule."""

    __tablename__ = "cds_cards"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), ForeignKey("queue_items.id"))
    directive_id: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
