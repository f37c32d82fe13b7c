"""The hub's HTTP API (FastAPI): one router per resource, the hub injected, OpenAPI at /openapi.json.

Devices and patients authenticate by signature (envelopes, grants, status lists, device lists are all
signed), so those routes take no bearer token. Everything else needs a clinician's or administrator's
bearer token; every read of patient data and every refusal to read it is audited before the answer is
sent. The interactive docs pages are off because they load scripts from a CDN.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import text

from .. import __version__
from ..privacy.errors import ConsentRefused, PrivacyError
from . import audit, repository
from .access import Admin, Caller, Clinician, DbDep, HubDep, panel_consent, queue_for, read_patient
from .auth import AccessDenied, NotAuthenticated, assign
from .cds import cds_router
from .consent_registry import ConsentRegistry, enrol, update_devices
from .ehr import ehr_router
from .inbox_actions import actions_router
from .intake import Receipt, Refused
from .queue_actions import locked_item, record_feedback, save_item
from .service import Hub
from .triage import QueueItem, TriageError, acknowledge, override_rates, snooze
from .web import inbox_router, is_page
from .web.patient import patient_router

REFUSAL_STATUS = {"replay": 409, "size": 413}
_ITEMS = TypeAdapter(list[QueueItem])


class Metrics:
    """Counters for /metrics (Prometheus text format), per worker process."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.intake_seconds = 0.0
        self._lock = threading.Lock()

    def count(self, name: str, seconds: float = 0.0) -> None:
        """Add one to a counter (and, for intakes, the time taken)."""
        with self._lock:
            self.counts[name] += 1
            self.intake_seconds += seconds

    def render(self, cycle_failures: int = 0) -> str:
        """The counters in the Prometheus exposition format (with the directive cycle's failed patients)."""
        lines = ["# TYPE mindbridge_cycle_failures_total counter", f"mindbridge_cycle_failures_total {cycle_failures}",
                 "# TYPE mindbridge_intake_total counter"]
        lines += [f'mindbridge_intake_total{{outcome="{k}"}} {v}' for k, v in sorted(self.counts.items())]
        lines += ["# TYPE mindbridge_intake_seconds_total counter",
                  f"mindbridge_intake_seconds_total {self.intake_seconds}"]
        return "\n".join(lines) + "\n"


# --- intake ------------------------------------------------------------------------------------------
intake_router = APIRouter(tags=["intake"])


@intake_router.post("/intake", status_code=201, response_model=Receipt,
                    responses={200: {"description": "an exact retry: the original receipt"},
                               403: {"description": "no valid consent"}, 409: {"description": "replay"},
                               422: {"description": "refused envelope"}})
async def post_intake(request: Request, response: Response, hub: HubDep) -> Receipt:
    """Accept one sealed envelope (the body, as sent); an exact retry returns the original receipt."""
    started = time.perf_counter()
    metrics: Metrics = request.app.state.metrics
    data = await request.body()
    try:
        admitted = await run_in_threadpool(hub.intake.admit, data)  # the cryptography, off the event loop
        receipt, new = await asyncio.wrap_future(hub.intake.submit(admitted))  # answered after the commit
    except Refused as exc:
        metrics.count(f"refused-{exc.code}", time.perf_counter() - started)
        raise
    response.status_code = 201 if new else 200
    metrics.count("accepted" if new else "retried", time.perf_counter() - started)
    return receipt


# --- consents and patients -------------------------------------------------------------------------
consent_router = APIRouter(tags=["consents"])


class GrantIn(BaseModel):
    """A consent grant JWT signed by the patient."""

    grant: Annotated[str, Field(max_length=16_384)]


class StatusIn(BaseModel):
    """A revocation status-list JWT signed by the patient."""

    status_list: Annotated[str, Field(max_length=65_536)]


class DevicesIn(BaseModel):
    """A device-list JWT signed by the patient."""

    device_list: Annotated[str, Field(max_length=16_384)]


@consent_router.post("/consents", status_code=201)
def post_grant(body: GrantIn, session: DbDep, hub: HubDep) -> dict[str, str]:
    """Hold a patient's consent grant addressed to this clinic."""
    grant = ConsentRegistry(session, hub.clinic.did).add_grant(body.grant, dt.datetime.now(dt.UTC))
    audit.record(session, grant.patient, "consent.grant", f"Consent/{grant.id}", "ok", {"purpose": grant.purpose})
    session.commit()
    return {"id": grant.id, "patient": grant.patient, "purpose": grant.purpose}


@consent_router.post("/consents/status", status_code=201)
def post_status(body: StatusIn, session: DbDep, hub: HubDep) -> dict[str, str]:
    """Hold a patient's newest revocation status list (a revocation takes effect at once)."""
    status = ConsentRegistry(session, hub.clinic.did).update_status(body.status_list)
    audit.record(session, status.issuer, "consent.status", f"StatusList/{status.id}", "ok")
    session.commit()
    return {"id": status.id, "issuer": status.issuer}


patients_router = APIRouter(tags=["patients"])


@patients_router.put("/patients/{patient}/devices")
def put_devices(patient: str, body: DevicesIn, session: DbDep) -> dict[str, object]:
    """Replace an enrolled patient's device list with a newer version they signed."""
    devices = update_devices(session, body.device_list)
    if devices.patient != patient:
        raise AccessDenied("the device list is signed by another patient")
    audit.record(session, patient, "patient.devices", f"Patient/{patient}", "ok", {"version": devices.version})
    session.commit()
    return {"patient": patient, "version": devices.version}


@patients_router.get("/patients")
def get_patients(session: DbDep, hub: HubDep, who: Clinician) -> list[dict[str, object]]:
    """The caller's panel, with whether each patient's treatment consent is valid now."""
    listed = panel_consent(session, hub, who)
    audit.record(session, who.name, "read", f"Panel/{who.name}", "ok", {"patients": len(listed)})
    session.commit()
    return [{"patient": p, "consent": allowed} for p, allowed in listed.items()]


@patients_router.get("/patients/{patient}")
def get_patient(patient: str, session: DbDep, hub: HubDep, who: Caller) -> dict[str, object]:
    """A patient's recent risk summaries (what their devices sent)."""
    read_patient(session, hub, who, patient, "summaries")
    received = repository.history(session, patient, dt.datetime.now(dt.UTC), hub.settings.history_days)
    return {"patient": patient,
            "summaries": [{"envelope_id": r.envelope_id, **r.summary.model_dump(mode="json")} for r in received]}


@patients_router.get("/patients/{patient}/directives")
def get_directives(patient: str, session: DbDep, hub: HubDep, who: Caller) -> list[dict[str, Any]]:
    """A patient's directives, newest first."""
    read_patient(session, hub, who, patient, "directives")
    return [d.model_dump(mode="json") for d in repository.directives_of(session, patient)]


@patients_router.get("/patients/{patient}/consents")
def get_consents(patient: str, session: DbDep, hub: HubDep, who: Caller) -> list[dict[str, object]]:
    """A patient's grants to this clinic as FHIR R4 Consent resources."""
    read_patient(session, hub, who, patient, "consents")
    return ConsentRegistry(session, hub.clinic.did).as_fhir(patient, dt.datetime.now(dt.UTC))


# --- triage queue ----------------------------------------------------------------------------------
queue_router = APIRouter(tags=["triage queue"])


@queue_router.get("/queue")
def get_queue(session: DbDep, hub: HubDep, who: Clinician) -> dict[str, object]:
    """The triage queue of the caller's patients."""
    delivery = queue_for(session, hub, who, dt.datetime.now(dt.UTC))
    return {"interruptive": _ITEMS.dump_python(delivery.interruptive, mode="json"),
            "digest": _ITEMS.dump_python(delivery.digest, mode="json")}


class SnoozeIn(BaseModel):
    """Snooze an item until a time, with a reason."""

    until: dt.datetime
    reason: Annotated[str, Field(min_length=1, max_length=300)]


class FeedbackIn(BaseModel):
    """A clinician's response to an item."""

    outcome: Literal["accepted", "overridden"]
    reason: Annotated[str, Field(max_length=300)] = ""


@queue_router.post("/queue/{item_id}/snooze")
def post_snooze(item_id: str, body: SnoozeIn, session: DbDep, hub: HubDep, who: Caller) -> dict[str, object]:
    """Snooze an item (within its tier's limit; never-suppressed items refuse)."""
    now = dt.datetime.now(dt.UTC)
    item = snooze(locked_item(session, hub, who, item_id, "snooze"), body.until, body.reason, hub.policy, now)
    save_item(session, who, item, "snooze", {"until": body.until.isoformat(), "reason": body.reason})
    return {"id": item.id, "status": item.status}


@queue_router.post("/queue/{item_id}/acknowledge")
def post_acknowledge(item_id: str, session: DbDep, hub: HubDep, who: Caller) -> dict[str, object]:
    """Acknowledge an item."""
    item = acknowledge(locked_item(session, hub, who, item_id, "acknowledge"), who.name, dt.datetime.now(dt.UTC))
    save_item(session, who, item, "acknowledge", {})
    return {"id": item.id, "status": item.status}


@queue_router.post("/queue/{item_id}/feedback", status_code=201)
def post_feedback(item_id: str, body: FeedbackIn, session: DbDep, hub: HubDep, who: Caller) -> dict[str, object]:
    """Record whether the item's suggestion was accepted or overridden, and why."""
    item = locked_item(session, hub, who, item_id, "feedback")
    rule = item.directive.rule_id
    record_feedback(session, who.name, item.id, rule, body.outcome, body.reason, dt.datetime.now(dt.UTC))
    session.commit()
    return {"id": item.id, "rule_id": rule, "outcome": body.outcome}


# --- administration --------------------------------------------------------------------------------
admin_router = APIRouter(prefix="/admin", tags=["administration"])


class PanelIn(BaseModel):
    """Put a patient on a clinician's panel."""

    clinician: str
    patient: str


class EnrolIn(DevicesIn):
    """A patient's signed device list, and the label clinicians know them by until their EHR chart is linked."""

    label: Annotated[str, Field(max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""


@admin_router.post("/patients", status_code=201)
def post_patient(body: EnrolIn, session: DbDep, who: Admin) -> dict[str, object]:
    """Enrol a patient with the device list they signed (and a label for the inbox)."""
    devices = enrol(session, body.device_list, dt.datetime.now(dt.UTC), body.label)
    audit.record(session, who.name, "patient.enrol", f"Patient/{devices.patient}", "ok",
                 {"devices": len(devices.devices)})
    session.commit()
    return {"patient": devices.patient, "version": devices.version}


@admin_router.post("/panels", status_code=201)
def post_panel(body: PanelIn, session: DbDep, who: Admin) -> dict[str, str]:
    """Put a patient on a clinician's panel."""
    assign(session, body.clinician, body.patient)
    audit.record(session, who.name, "admin.panel", f"Patient/{body.patient}", "ok", {"clinician": body.clinician})
    session.commit()
    return {"clinician": body.clinician, "patient": body.patient}


@admin_router.post("/cycle")
def post_cycle(hub: HubDep, session: DbDep, who: Admin,
               now: Annotated[dt.datetime | None, Query(description="Evaluate as of this time (ISO 8601)")] = None,
               ) -> dict[str, object]:
    """Run the directive cycle for every patient (e.g. to notice lost signals)."""
    at = now or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        raise ValueError("now must carry a time zone, e.g. 2026-11-27T09:00:00Z")
    changed = hub.cycle_all(at)
    audit.record(session, who.name, "admin.cycle", "Hub/cycle", "ok", {"now": at.isoformat(), "changed": changed})
    session.commit()
    return {"now": at.isoformat(), "changed_items": changed}


class CycleFailureOut(BaseModel):
    """A patient whose directive cycle is failing: where and why, how often, and when it is tried again."""

    patient: str
    stage: Literal["read", "evaluate", "write", "intake"]
    error: str
    attempts: int
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    next_retry_at: dt.datetime


@admin_router.get("/cycle-failures", response_model=list[CycleFailureOut])
def get_cycle_failures(session: DbDep, who: Admin) -> list[CycleFailureOut]:
    """Patients whose directive cycle is failing (other patients' cycles go on), newest failure first."""
    rows = repository.cycle_failures(session)
    audit.record(session, who.name, "read", "Hub/cycle-failures", "ok", {"count": len(rows)})
    session.commit()
    return [CycleFailureOut.model_validate(r, from_attributes=True) for r in rows]


@admin_router.get("/override-rates")
def get_override_rates(hub: HubDep, session: DbDep, who: Admin) -> list[dict[str, object]]:
    """Per-rule override statistics, noisiest first."""
    stats = override_rates(repository.all_feedback(session), hub.pathway.pathway)
    return [{"rule_id": s.rule_id, "shown": s.shown, "overridden": s.overridden,
             "override_rate": s.override_rate} for s in stats]


@admin_router.get("/audit/verify")
def get_audit_verify(session: DbDep, who: Admin) -> dict[str, object]:
    """Check the audit chain; names the first altered, inserted or deleted entry."""
    verdict = audit.verify(session)
    return {"ok": verdict.ok, "entries": verdict.entries, "head": verdict.head, "first_bad": verdict.first_bad,
            "problem": verdict.problem}


@admin_router.get("/audit")
def get_audit(session: DbDep, who: Admin, since: int = 0,
              limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[dict[str, object]]:
    """Audit entries after `since`, shaped as FHIR AuditEvent (the export is itself audited)."""
    entries = audit.export(session, since, limit)
    audit.record(session, who.name, "export", "AuditLog", "ok", {"since": since, "count": len(entries)})
    session.commit()
    return entries


# --- health and metrics ----------------------------------------------------------------------------
ops_router = APIRouter(tags=["operations"])


@ops_router.get("/health")
def get_health(session: DbDep) -> dict[str, str]:
    """Liveness and database reachability."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}


@ops_router.get("/metrics", response_class=PlainTextResponse)
def get_metrics(request: Request, hub: HubDep) -> str:
    """Intake and cycle-failure counters in the Prometheus text format (this worker only)."""
    metrics: Metrics = request.app.state.metrics
    return metrics.render(hub.cycle.failures_total)


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> JSONResponse:
        status = 403 if exc.code.startswith("consent") else REFUSAL_STATUS.get(exc.code, 422)
        return _error(status, exc.code, str(exc))

    @app.exception_handler(NotAuthenticated)
    def unauthenticated(request: Request, exc: NotAuthenticated) -> Response:
        if request.method == "GET" and is_page(request):  # a person at the inbox: the sign-in page, not JSON
            return RedirectResponse(f"/inbox/login?next={quote(request.url.path)}", status_code=303)
        return _error(401, "unauthenticated", str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(AccessDenied)
    def denied(request: Request, exc: AccessDenied) -> JSONResponse:
        return _error(403, "forbidden", str(exc))

    @app.exception_handler(ConsentRefused)
    def consent(request: Request, exc: ConsentRefused) -> JSONResponse:
        return _error(403, exc.code, str(exc))

    @app.exception_handler(PrivacyError)
    def privacy(request: Request, exc: PrivacyError) -> JSONResponse:
        return _error(422, exc.code, str(exc))

    @app.exception_handler(TriageError)
    def triage(request: Request, exc: TriageError) -> JSONResponse:
        return _error(409, "triage", str(exc))

    @app.exception_handler(LookupError)
    def missing(request: Request, exc: LookupError) -> JSONResponse:
        return _error(404, "not-found", str(exc.args[0] if exc.args else exc))

    @app.exception_handler(ValueError)
    def invalid(request: Request, exc: ValueError) -> JSONResponse:
        return _error(422, "invalid", str(exc))


def create_app(hub: Hub, close_on_shutdown: bool = False) -> FastAPI:
    """The hub's FastAPI application, serving `hub` (closed with the server if `close_on_shutdown`)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            await run_in_threadpool(hub.close)

    app = FastAPI(title="mindbridge hub", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Clinic hub: sealed risk-summary intake, consent registry, directives, triage "
                              "queue, audit. Patient data is read only by clinicians on whose panel the patient "
                              "is, under a valid treatment consent.")
    app.state.hub = hub
    app.state.metrics = Metrics()
    for router in (intake_router, consent_router, patients_router, queue_router, admin_router, ops_router,
                   inbox_router, patient_router, actions_router, cds_router, ehr_router):
        app.include_router(router)
    _install_errors(app)
    return app

