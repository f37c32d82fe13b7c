"""Access for the HTTP API: the injected hub and session, bearer authentication, role and panel checks.

Every read of patient data, and every refusal, is written to the audit log before any data is returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from . import audit, repository
from .auth import AccessDenied, Principal, Role, authenticate, on_panel, panel, require
from .budget import deliver_today
from .consent_registry import ConsentRegistry
from .service import Hub
from .triage import Delivery

TOKEN_COOKIE = "mindbridge_token"


async def hub_of(request: Request) -> Hub:
    """The hub this app serves (injected at creation; async, so FastAPI need not hand it to a thread)."""
    hub: Hub = request.app.state.hub
    return hub


def db(hub: Annotated[Hub, Depends(hub_of)]) -> Iterator[Session]:
    """A database session for one request."""
    with hub.sessions() as session:
        yield session


HubDep = Annotated[Hub, Depends(hub_of)]
DbDep = Annotated[Session, Depends(db)]


def caller(request: Request, session: DbDep) -> Principal:
    """The authenticated caller: `Authorization: Bearer …`, or the inbox's cookie."""
    header = request.headers.get("authorization")
    if header is None and TOKEN_COOKIE in request.cookies:
        header = f"Bearer {request.cookies[TOKEN_COOKIE]}"
    return authenticate(session, header)


Caller = Annotated[Principal, Depends(caller)]


def _deny(session: Session, who: Principal, entity: str, why: str) -> AccessDenied:
    audit.record(session, who.name, "auth", entity, "denied", {"why": why})
    session.commit()
    return AccessDenied(why)


def _with_role(session: Session, who: Principal, role: Role, request: Request) -> Principal:
    try:
        require(who, role)
    except AccessDenied as exc:
        raise _deny(session, who, f"Endpoint{request.url.path}", str(exc)) from exc
    return who


def admin(session: DbDep, who: Caller, request: Request) -> Principal:
    """The caller, who must be an administrator (a refusal is audited)."""
    return _with_role(session, who, "admin", request)


def clinician(session: DbDep, who: Caller, request: Request) -> Principal:
    """The caller, who must be a clinician (a refusal is audited)."""
    return _with_role(session, who, "clinician", request)


Admin = Annotated[Principal, Depends(admin)]
Clinician = Annotated[Principal, Depends(clinician)]


def read_patient(session: Session, hub: Hub, who: Principal, patient: str, what: str) -> None:
    """Allow a clinician to read a patient on their panel under valid treatment consent; audit either way."""
    now = dt.datetime.now(dt.UTC)
    if who.role != "clinician":
        why = "only clinicians read patient data"
    elif not on_panel(session, who.name, patient):
        why = "the patient is not on your panel"
    elif not ConsentRegistry(session, hub.clinic.did).allows(patient, now):
        why = "no valid treatment consent from the patient"
    else:
        audit.record(session, who.name, "read", f"Patient/{patient}", "ok", {"what": what}, now)
        session.commit()
        return
    raise _deny(session, who, f"Patient/{patient}", why)


def panel_consent(session: Session, hub: Hub, who: Principal) -> dict[str, bool]:
    """The clinician's panel patients, each with whether their treatment consent is valid now."""
    now = dt.datetime.now(dt.UTC)
    registry = ConsentRegistry(session, hub.clinic.did)
    return {p: registry.allows(p, now) for p in panel(session, who.name)}


def visible_patients(session: Session, hub: Hub, who: Principal) -> list[str]:
    """The clinician's panel patients whose treatment consent is valid now."""
    return [p for p, allowed in panel_consent(session, hub, who).items() if allowed]


def queue_for(session: Session, hub: Hub, who: Principal, now: dt.datetime) -> Delivery:
    """The clinician's active items: interruptive within today's budget (clinic-local day), the rest in the digest."""
    patients = visible_patients(session, hub, who)
    delivery = deliver_today(session, who.name, hub.local_day(now), repository.open_items(session, patients),
                             hub.policy, now)
    audit.record(session, who.name, "read", f"Queue/{who.name}", "ok", {"patients": len(patients)}, now)
    session.commit()
    return delivery
