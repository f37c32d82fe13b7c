"""Who may do what: clinicians and administrators with bearer tokens, and clinicians' patient panels.

A token is 256 random bits shown once when issued; the hub keeps only its SHA-256 (a slow hash adds
nothing for a random secret of that size), never logs it, and compares digests by index lookup.
A clinician reads a patient only if the patient is on their panel and a treatment consent for this
clinic is valid now; administrators manage users, panels and the pathway cycle but read no patient data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import PanelRow, PatientRow, UserRow

Role = Literal["clinician", "admin"]
ROLES: tuple[Role, ...] = ("clinician", "admin")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class AccessDenied(Exception):
    """The caller may not do this (HTTP 403); the message says why without revealing data."""


class NotAuthenticated(Exception):
    """No valid bearer token (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, name: str, role: Role, now: dt.datetime | None = None) -> str:
    """Create a user, or replace an existing user's token; returns the new token (shown once)."""
    if not _NAME.match(name):
        raise ValueError(f"user name {name!r} must be 1-64 lowercase letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    token = secrets.token_urlsafe(32)
    user = session.get(UserRow, name)
    if user is None:
        session.add(UserRow(name=name, role=role, token_sha256=token_digest(token),
                            created_at=now or dt.datetime.now(dt.UTC)))
    elif user.role != role:
        raise ValueError(f"user {name} exists with role {user.role}; a role cannot be changed")
    else:
        user.token_sha256 = token_digest(token)
    return token


def authenticate(session: Session, authorization: str | None) -> Principal:
    """The principal named by an `Authorization: Bearer <token>` value, or NotAuthenticated."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("a bearer token is required")
    user = session.scalar(select(UserRow).where(UserRow.token_sha256 == token_digest(token.strip())))
    if user is None:
        raise NotAuthenticated("the bearer token is not valid")
    return Principal(user.name, "admin" if user.role == "admin" else "clinician")


def require(principal: Principal, role: Role) -> None:
    """Raise AccessDenied unless the principal has `role`."""
    if principal.role != role:
        raise AccessDenied(f"{principal.name} is a {principal.role}; this needs the {role} role")


def on_panel(session: Session, clinician: str, patient: str) -> bool:
    """True if the patient is on the clinician's panel."""
    return session.get(PanelRow, (clinician, patient)) is not None


def panel(session: Session, clinician: str) -> list[str]:
    """The patients on a clinician's panel."""
    return list(session.scalars(select(PanelRow.patient).where(PanelRow.clinician == clinician)
                                .order_by(PanelRow.patient)))


def assign(session: Session, clinician: str, patient: str) -> None:
    """Put an enrolled patient on a clinician's panel (idempotent)."""
    user = session.get(UserRow, clinician)
    if user is None or user.role != "clinician":
        raise ValueError(f"{clinician} is not a clinician")
    if session.get(PatientRow, patient) is None:
        raise ValueError(f"patient {patient} is not enrolled")
    if not on_panel(session, clinician, patient):
        session.add(PanelRow(clinician=clinician, patient=patient))
