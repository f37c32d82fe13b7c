"""CDS Hooks 2.0.1 service of the hub: discovery, a `patient-view` service, and feedback.

`patient-view` answers with one card per active triage item of the patient whose chart is open (built by
`mindbridge.fhir.cards.card_from_directive`), most urgent first. The EHR is trusted through the JWT it
sends (`CdsJwtVerifier`: ES384/RS384 only, its registered keys, `aud` = the exact URL called, `exp`, and
`jti` replay through `DbJtiStore`, which survives restarts and is shared by every worker). The service
needs the `patient` prefetch and the context's `patientId` (412 when either is missing: it never calls
back into the EHR). It releases cards only for a patient linked to that chart who holds a valid
treatment consent to this clinic; every answer and every refusal is audited with the EHR as actor.
Feedback on a card (accepted, or overridden and why) is stored against the card's rule and so appears in
the override statistics (`GET /admin/override-rates`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..fhir.cards import card_from_directive
from ..fhir.cdshooks import Discovery, FeedbackRequest, HookRequest, HookResponse, Service
from ..fhir.jwt_verify import CdsJwtError, CdsJwtVerifier
from . import audit, repository
from .access import DbDep, HubDep
from .auth import NotAuthenticated
from .consent_registry import ConsentRegistry
from .ehr import connection_of, patient_of_chart
from .ehr_tables import CdsCardRow, CdsJtiRow
from .queue_actions import record_feedback
from .triage import rank

SERVICE_ID = "mindbridge-patient-view"
SERVICE = Service(
    hook="patient-view", id=SERVICE_ID, title="mindbridge: open directives for this patient",
    description="Directives from the patient's digital biomarkers and surveys that await a clinician "
                "(safety assessments, reviews, contacts), with their evidence and a Task to create.",
    prefetch={"patient": "Patient/{{context.patientId}}"},
    usageRequirements="The patient must be linked to the hub and hold a treatment consent to the clinic.",
)


class DbJtiStore:
    """A `JtiStore` in the hub's database: one row per (issuer, jti) until it expires, shared by all workers."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], float] = time.time) -> None:
        """Keep jti rows in the database behind `sessions`."""
        self.sessions = sessions
        self.clock = clock

    def claim(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record (issuer, jti) until `expires_at`; False when it was already recorded (a replay)."""
        with self.sessions() as session:
            session.execute(delete(CdsJtiRow).where(CdsJtiRow.expires_at < dt.datetime.fromtimestamp(self.clock(),
                                                                                                     dt.UTC)))
            session.add(CdsJtiRow(issuer=issuer, jti=jti, expires_at=dt.datetime.fromtimestamp(expires_at, dt.UTC)))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True


def ehr_claims(request: Request, session: DbDep, hub: HubDep) -> dict[str, Any]:
    """The verified claims of the calling EHR's bearer JWT; a refusal is audited and answered 401."""
    connection = connection_of(request.app)
    verifier = CdsJwtVerifier(connection.cds_issuers, connection.endpoint_url(request), DbJtiStore(hub.sessions))
    try:
        return verifier.verify(request.headers.get("authorization", ""))
    except CdsJwtError as exc:
        audit.record(session, "cds", "auth", f"Endpoint{request.url.path}", "denied", {"why": str(exc)})
        session.commit()
        raise NotAuthenticated(f"CDS client token refused: {exc}") from exc


EhrClaims = Annotated[dict[str, Any], Depends(ehr_claims)]
cds_router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])


def _service(service_id: str) -> None:
    if service_id != SERVICE_ID:
        raise HTTPException(404, f"no CDS service {service_id!r}; this hub offers {SERVICE_ID!r}")


@cds_router.get("")
def discovery() -> dict[str, Any]:
    """The CDS services this hub offers."""
    return Discovery(services=[SERVICE]).wire()


def _chart(body: HookRequest) -> str:
    """The EHR Patient id the call is about, after checking the context and the prefetch carry it."""
    if body.hook != SERVICE.hook:
        raise HTTPException(400, f"hook {body.hook!r}: {SERVICE_ID} serves {SERVICE.hook}")
    patient_id = body.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise HTTPException(412, "context.patientId is required")
    prefetched = (body.prefetch or {}).get("patient")
    if not isinstance(prefetched, dict) or prefetched.get("resourceType") != "Patient":
        raise HTTPException(412, "prefetch 'patient' (Patient/{{context.patientId}}) is required; "
                                 "this service does not query the EHR")
    if prefetched.get("id") != patient_id:
        raise HTTPException(400, f"prefetch patient id {prefetched.get('id')!r} is not context.patientId")
    return patient_id


@cds_router.post("/{service_id}")
def patient_view(service_id: str, body: HookRequest, request: Request, session: DbDep, hub: HubDep,
                 claims: EhrClaims) -> dict[str, Any]:
    """Cards for the open triage items of the patient whose chart the clinician opened."""
    _service(service_id)
    chart = _chart(body)
    actor, now = f"cds:{claims['iss']}", dt.datetime.now(dt.UTC)
    patient = patient_of_chart(session, chart)
    if patient is None:
        return HookResponse(cards=[]).wire()
    if not ConsentRegistry(session, hub.clinic.did).allows(patient, now):
        audit.record(session, actor, "read", f"Patient/{patient}", "denied",
                     {"why": "no valid treatment consent from the patient", "user": body.context.get("userId")})
        session.commit()
        return HookResponse(cards=[]).wire()
    items = sorted((i for i in repository.open_items(session, [patient]) if i.is_active(now)),
                   key=lambda i: (rank(i.tier), i.due))
    base = connection_of(request.app).base_url(request)
    cards = [card_from_directive(i.directive, f"Patient/{chart}", base) for i in items]
    for item, card in zip(items, cards, strict=True):
        session.merge(CdsCardRow(uuid=card.uuid, item_id=item.id, directive_id=item.directive.id,
                                 rule_id=item.directive.rule_id, issued_at=now))
    audit.record(session, actor, "read", f"Patient/{patient}", "ok",
                 {"what": "cds patient-view", "user": body.context.get("userId"), "cards": len(cards)}, now)
    session.commit()
    return HookResponse(cards=cards).wire()


@cds_router.post("/{service_id}/feedback")
def feedback(service_id: str, body: FeedbackRequest, session: DbDep, claims: EhrClaims) -> dict[str, int]:
    """Store what the clinician did with each card: accepted, or overridden and why."""
    _service(service_id)
    actor = f"cds:{claims['iss']}"
    stored = 0
    for outcome in body.feedback:
        card = session.get(CdsCardRow, outcome.card)
        if card is None:
            session.rollback()
            raise HTTPException(404, f"card {outcome.card!r} was not issued by this service")
        why = outcome.overrideReason
        reason = "" if why is None else ": ".join(
            part for part in (why.reason.code if why.reason else "", why.userComment or "") if part)
        stored += record_feedback(session, actor, card.item_id, card.rule_id, outcome.outcome, reason,
                                  outcome.outcomeTimestamp)
    session.commit()
    return {"stored": stored}
