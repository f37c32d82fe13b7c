"""The hub's FHIR push to the EHR: settings, patient links, a durable outbox and the worker that drains it.

Every stored directive gets an outbox row. Rows are made by `sweep` from the `directives` table itself (an
anti-join), so a directive committed by the cycle is pushed even if the process dies before any sink runs:
the `Hub.sinks` entry only wakes the worker early. The worker claims each due row with a lease (so several
worker processes never push the same row at once), builds the directive's transaction bundle with
`mindbridge.fhir`, pushes it with `EhrClient` under SMART Backend Services, and marks the row pushed with an
audit entry. A failure is kept on the row and retried with exponential back-off; the bundle is idempotent
(conditional creates on business identifiers), so a retry, a restart mid-push or a `requeue` never
duplicates a resource. Directives of a patient not yet linked to an EHR Patient wait until they are.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import yaml
from fastapi import APIRouter, FastAPI, Request
from joserfc.jwk import ECKey, KeySet
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..fhir import codes
from ..fhir.bundle import STATUSES, directive_bundle, transaction
from ..fhir.client import EhrClient, PushResult
from ..fhir.requests import RequestKind, request_bundle
from ..fhir.smart import SmartBackendAuth
from ..privacy.consent import URI as DID_SYSTEM  # a DID is a URI: the system of a patient not yet linked
from ..summary import Directive, RiskBand
from . import audit
from .access import Admin, DbDep, HubDep
from .db import DirectiveRow, EnvelopeRow, PatientRow
from .ehr_tables import EhrLinkRow, OutboxRow, RequestRow
from .repository import summary_of
from .service import Hub
from .triage import rank

ENV_EHR = "MINDBRIDGE_HUB_EHR"
LEASE = dt.timedelta(minutes=2)  # a claimed row is left alone this long, then another worker may take it
MAX_BACKOFF = dt.timedelta(hours=1)
# What a directive bundle creates (conditional creates need search) and updates (Provenance PUT).
DEFAULT_SCOPES = [*(f"system/{kind}.crs" for kind in ("RiskAssessment", "Observation", "DetectedIssue", "Task",
                                                      "CommunicationRequest", "Flag", "Device")),
                  "system/Provenance.cru"]
log = logging.getLogger(__name__)


class PushSettings(BaseModel):
    """The EHR's FHIR server and this hub's SMART Backend Services registration with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fhir_base: Annotated[str, Field(pattern=r"^https?://")]
    client_id: Annotated[str, Field(min_length=1)]
    key_file: Path = Field(description="The hub's private P-384 JWK (with a kid) as JSON; register its public half")
    scopes: list[str] = DEFAULT_SCOPES
    max_entries: Annotated[int, Field(ge=2)] | None = Field(
        default=8, description="The server's limit on a transaction with conditional creates (Medplum: 8); null: none")
    poll_seconds: Annotated[float, Field(gt=0)] = 15.0


class EhrSettings(BaseModel):
    """How the hub meets the EHR: its public URL, the FHIR push, and the EHRs allowed to call CDS Hooks."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    public_url: Annotated[str, Field(pattern=r"^https?://")] | None = Field(
        default=None, description="The hub's base URL as the EHR sees it (CDS Hooks audience, card links); default: "
                          "the URL each request arrived at")
    push: PushSettings | None = None
    cds_clients: dict[str, Path] = Field(default={}, description="CDS client issuer (iss) -> its public JWKS file")

    @classmethod
    def from_file(cls, path: Path) -> EhrSettings:
        """Read the YAML settings; relative key and JWKS paths are relative to the file."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        settings = cls.model_validate(raw)
        here = path.resolve().parent
        push = settings.push
        if push is not None:
            push = push.model_copy(update={"key_file": here / push.key_file})
        return settings.model_copy(update={"push": push,
                                           "cds_clients": {k: here / v for k, v in settings.cds_clients.items()}})


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from a file, or a ValueError naming the file and what it should hold."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the {what}: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{path}: the {what} must be a JSON object")
    return value


# --- patient links and the outbox ------------------------------------------------------------------------
def link_patient(session: Session, patient: str, fhir_id: str, now: dt.datetime) -> None:
    """Record (or change) the EHR Patient id of an enrolled patient."""
    if session.get(PatientRow, patient) is None:
        raise LookupError(f"patient {patient} is not enrolled")
    session.merge(EhrLinkRow(patient=patient, fhir_id=fhir_id, linked_at=now))


def patient_of_chart(session: Session, fhir_id: str) -> str | None:
    """The enrolled patient (DID) linked to the EHR Patient `fhir_id`, if any."""
    return session.scalar(select(EhrLinkRow.patient).where(EhrLinkRow.fhir_id == fhir_id))


def sweep(session: Session, now: dt.datetime) -> int:
    """Give every stored directive without an outbox row one (due now); returns how many (not committed)."""
    missing = session.execute(select(DirectiveRow.id, DirectiveRow.patient, DirectiveRow.tier)
                              .outerjoin(OutboxRow, OutboxRow.directive_id == DirectiveRow.id)
                              .where(OutboxRow.directive_id.is_(None), DirectiveRow.superseded_at.is_(None))).all()
    session.add_all(OutboxRow(directive_id=d, patient=p, tier_rank=rank(cast(Any, t)), enqueued_at=now,
                              next_attempt_at=now, attempts=0, created=0, last_error="") for d, p, t in missing)
    return len(missing)


def requeue(session: Session, now: dt.datetime) -> int:
    """Mark every pushed directive to be pushed again (e.g. after the EHR lost data); returns how many."""
    done = session.execute(update(OutboxRow).where(OutboxRow.pushed_at.is_not(None))
                           .values(pushed_at=None, next_attempt_at=now, attempts=0))
    return int(cast(CursorResult[Any], done).rowcount)


def risk_band(session: Session, directive: Directive) -> RiskBand | None:
    """The risk band the device reported in the newest summary the directive rests on."""
    if not directive.evidence.envelope_ids:
        return None
    body = session.scalar(select(EnvelopeRow.summary).where(EnvelopeRow.id == directive.evidence.envelope_ids[-1]))
    return summary_of(body).risk_band if body else None


def bundle_for(session: Session, directive: Directive, patient_ref: str) -> dict[str, Any]:
    """The directive's transaction bundle for the EHR Patient `patient_ref`."""
    return directive_bundle(directive, patient_ref, risk_band(session, directive))


@dataclass(frozen=True)
class DrainReport:
    """What one pass over the outbox did."""

    pushed: int = 0
    failed: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """How long a failed push waits before the next attempt: 5 s doubling per attempt, at most `MAX_BACKOFF`."""
    return min(MAX_BACKOFF, dt.timedelta(seconds=5 * 2 ** min(attempts, 20)))


class Outbox:
    """Pushes due outbox rows to one EHR."""

    def __init__(self, sessions: sessionmaker[Session], client: EhrClient, batch: int = 50,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        """Drain into `client`, at most `batch` rows a pass."""
        self.sessions = sessions
        self.client = client
        self.batch = batch
        self.clock = clock

    def _enqueue(self) -> None:
        with self.sessions() as session:
            if sweep(session, self.clock()):
                try:
                    session.commit()
                except IntegrityError:  # another worker enqueued the same directives first
                    session.rollback()

    def _claim(self, session: Session, directive_id: str, now: dt.datetime) -> bool:
        claimed = session.execute(
            update(OutboxRow)
            .where(OutboxRow.directive_id == directive_id, OutboxRow.pushed_at.is_(None),
                   (OutboxRow.lease_until.is_(None)) | (OutboxRow.lease_until < now))
            .values(lease_until=now + LEASE))
        session.commit()
        return bool(cast(CursorResult[Any], claimed).rowcount == 1)

    def drain(self) -> DrainReport:
        """Enqueue new directives, then push every due row whose patient is linked, most urgent first."""
        self._enqueue()
        now = self.clock()
        with self.sessions() as session:
            due = session.execute(
                select(OutboxRow.directive_id, EhrLinkRow.fhir_id)
                .join(EhrLinkRow, EhrLinkRow.patient == OutboxRow.patient)
                .where(OutboxRow.pushed_at.is_(None), OutboxRow.next_attempt_at <= now,
                       (OutboxRow.lease_until.is_(None)) | (OutboxRow.lease_until < now))
                .order_by(OutboxRow.tier_rank, OutboxRow.enqueued_at).limit(self.batch)).all()
        pushed = failed = 0
        for directive_id, fhir_id in due:
            with self.sessions() as session:
                if not self._claim(session, directive_id, now):
                    continue
                if self._push(session, directive_id, f"Patient/{fhir_id}"):
                    pushed += 1
                else:
                    failed += 1
        requests_pushed, requests_failed = self._push_requests(now)
        return DrainReport(pushed + requests_pushed, failed + requests_failed)

    def _push_requests(self, now: dt.datetime) -> tuple[int, int]:
        """Push clinicians' requests of linked patients (idempotent: a conditional create and a PUT)."""
        pushed = failed = 0
        with self.sessions() as session:
            due = session.execute(select(RequestRow, EhrLinkRow.fhir_id)
                                  .join(EhrLinkRow, EhrLinkRow.patient == RequestRow.patient)
                                  .where(RequestRow.pushed_at.is_(None), RequestRow.next_attempt_at <= now)
                                  .order_by(RequestRow.at).limit(self.batch)).all()
            for row, fhir_id in due:
                bundle = request_bundle(row.id, cast(RequestKind, row.kind), f"Patient/{fhir_id}", row.by,
                                        row.reason, row.priority, row.due, row.at)
                try:
                    self.client.push(bundle)
                except Exception as exc:  # kept and retried, like a directive
                    log.warning("EHR push of request %s failed: %s", row.id, exc)
                    row.attempts += 1
                    row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                    row.next_attempt_at = self.clock() + backoff(row.attempts)
                    failed += 1
                else:
                    row.pushed_at, row.last_error = self.clock(), ""
                    audit.record(session, "hub", "export", f"Patient/{row.patient}", "ok",
                                 {"request": row.id, "kind": row.kind, "to": self.client.base}, row.pushed_at)
                    pushed += 1
                session.commit()
        return pushed, failed

    def _set_statuses(self, directive_id: str, withdrawn: bool) -> int:
        """Give every resource the EHR holds for a directive its withdrawn (or in-force) status; how many changed."""
        changed = 0
        for kind, name, in_force, gone in STATUSES:
            ident = codes.identifier(name, directive_id)
            status = gone if withdrawn else in_force
            for resource in self.client.search(kind, {"identifier": f"{ident['system']}|{ident['value']}"}):
                if resource.get("status") != status:
                    self.client.update(resource | {"status": status})
                    changed += 1
        return changed

    def _push(self, session: Session, directive_id: str, patient_ref: str) -> bool:
        row = session.get(OutboxRow, directive_id)
        body = session.scalar(select(DirectiveRow.body).where(DirectiveRow.id == directive_id))
        assert row is not None and body is not None
        directive = Directive.model_validate_json(body)
        try:
            if row.mode == "withdraw":
                result = PushResult(statuses=["200"] * self._set_statuses(directive_id, True), locations=[])
            else:
                result = self.client.push(bundle_for(session, directive, patient_ref))
                if row.mode == "restore":
                    self._set_statuses(directive_id, False)
        except Exception as exc:  # any failure stays on the row and is retried: the push is idempotent
            log.warning("EHR push of directive %s failed: %s", directive_id, exc)
            row.attempts += 1
            row.lease_until = None
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            row.next_attempt_at = self.clock() + backoff(row.attempts)
            session.commit()
            return False
        now = self.clock()
        row.pushed_at, row.lease_until, row.created, row.last_error = now, None, result.created, ""
        audit.record(session, "hub", "export", f"Patient/{directive.patient}", "ok",
                     {"directive": directive_id, "to": self.client.base, "entries": len(result.statuses),
                      "created": result.created, "mode": row.mode}, now)
        session.commit()
        return True


class OutboxWorker:
    """A daemon thread that drains the outbox every `poll_seconds`, and at once when woken by a new directive."""

    def __init__(self, outbox: Outbox, poll_seconds: float) -> None:
        """Drain `outbox`; start with `start()`."""
        self.outbox = outbox
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ehr-outbox", daemon=True)

    def start(self) -> None:
        """Start draining in the background."""
        self._thread.start()

    def wake(self, directives: list[Directive] | None = None) -> None:
        """Drain now (a `Hub.sinks` entry: called with the directives a cycle just committed)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current pass; an interrupted push is safe to repeat."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.outbox.drain()
            except Exception:  # a database hiccup must not end the worker; the next pass retries
                log.exception("EHR outbox pass failed")
            self._wake.wait(self.poll_seconds)


# --- wiring into the app ---------------------------------------------------------------------------------
@dataclass
class EhrConnection:
    """The app's EHR settings, the trusted CDS clients' keys, and the outbox worker if pushing is on."""

    settings: EhrSettings
    cds_issuers: dict[str, KeySet]
    worker: OutboxWorker | None = None
    client: EhrClient | None = None  # the SMART client when pushing is on (the inbox also reads charts with it)

    def base_url(self, request: Request) -> str:
        """The hub's base URL as the EHR sees it."""
        return (self.settings.public_url or str(request.base_url)).rstrip("/")

    def endpoint_url(self, request: Request) -> str:
        """The exact URL of the endpoint this request called (the audience its bearer JWT must name)."""
        return self.base_url(request) + request.url.path


def connection_of(app: FastAPI) -> EhrConnection:
    """The app's EHR connection (an empty one, trusting no CDS client and pushing nothing, if none is set)."""
    found = getattr(app.state, "ehr", None)
    return found if isinstance(found, EhrConnection) else EhrConnection(EhrSettings(), {})


def connect(app: FastAPI, settings: EhrSettings) -> EhrConnection:
    """Trust the configured CDS clients and, if a FHIR server is configured, start pushing to it."""
    issuers = {iss: KeySet.import_key_set(cast(Any, read_json(path, f"JWKS of CDS client {iss}")))
               for iss, path in settings.cds_clients.items()}
    connection = EhrConnection(settings, issuers)
    hub: Hub = app.state.hub
    if settings.push is not None:
        push = settings.push
        key = ECKey.import_key(cast(Any, read_json(push.key_file, "hub's private P-384 JWK")))
        client = EhrClient(push.fhir_base, SmartBackendAuth(push.fhir_base, push.client_id, key, push.scopes),
                           max_entries=push.max_entries)
        connection.client = client
        connection.worker = OutboxWorker(Outbox(hub.sessions, client), push.poll_seconds)
        hub.sinks.append(connection.worker.wake)
        connection.worker.start()
    app.state.ehr = connection
    return connection


def connect_from_env(app: FastAPI) -> FastAPI:
    """`connect` with the settings file named by $MINDBRIDGE_HUB_EHR (nothing to do when it is unset)."""
    path = os.environ.get(ENV_EHR)
    if path:
        connect(app, EhrSettings.from_file(Path(path)))
    return app


# --- administration routes -------------------------------------------------------------------------------
ehr_router = APIRouter(prefix="/admin", tags=["EHR"])


class LinkIn(BaseModel):
    """The EHR Patient resource id of an enrolled patient."""

    fhir_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


@ehr_router.put("/patients/{patient}/ehr-link")
def put_link(patient: str, body: LinkIn, session: DbDep, who: Admin) -> dict[str, str]:
    """Link an enrolled patient to their chart in the EHR (pushes and CDS Hooks calls use it)."""
    link_patient(session, patient, body.fhir_id, dt.datetime.now(dt.UTC))
    audit.record(session, who.name, "admin.ehr-link", f"Patient/{patient}", "ok", {"fhir_id": body.fhir_id})
    session.commit()
    return {"patient": patient, "fhir_id": body.fhir_id}


@ehr_router.get("/ehr/outbox")
def get_outbox(session: DbDep, who: Admin) -> dict[str, object]:
    """The outbox: pushed, pending (linked, waiting or retrying), unlinked, and the latest errors."""
    linked = select(EhrLinkRow.patient)
    pending = OutboxRow.pushed_at.is_(None)

    def count(*where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(OutboxRow).where(*where)) or 0)

    errors = session.execute(select(OutboxRow.directive_id, OutboxRow.attempts, OutboxRow.last_error)
                             .where(pending, OutboxRow.last_error != "").order_by(OutboxRow.next_attempt_at)
                             .limit(20)).all()
    return {"pushed": count(OutboxRow.pushed_at.is_not(None)),
            "pending": count(pending, OutboxRow.patient.in_(linked)),
            "unlinked": count(pending, OutboxRow.patient.not_in(linked)),
            "errors": [{"directive": d, "attempts": a, "error": e} for d, a, e in errors]}


@ehr_router.post("/ehr/requeue")
def post_requeue(request: Request, session: DbDep, hub: HubDep, who: Admin) -> dict[str, int]:
    """Push every directive again (idempotent: the EHR keeps one copy of each resource)."""
    now = dt.datetime.now(dt.UTC)
    count = requeue(session, now)
    audit.record(session, who.name, "admin.ehr-requeue", "Outbox", "ok", {"directives": count}, now)
    session.commit()
    worker = connection_of(request.app).worker
    if worker is not None:
        worker.wake()
    return {"requeued": count}


# --- export ---------------------------------------------------------------------------------------------
def export_bundle(session: Session) -> tuple[dict[str, Any], int]:
    """One transaction bundle of every directive in force (shared resources once) and how many directives.

    A linked patient is referred to literally (`Patient/<id>`); any other by a conditional reference on
    their DID (`Patient?identifier=urn:ietf:rfc:3986|<did>`), which the receiving server resolves."""
    links: dict[str, str] = {p: f for p, f in session.execute(select(EhrLinkRow.patient, EhrLinkRow.fhir_id))}
    rows = session.scalars(select(DirectiveRow.body).where(DirectiveRow.superseded_at.is_(None))
                           .order_by(DirectiveRow.created_at, DirectiveRow.id)).all()
    entries: dict[str, dict[str, Any]] = {}
    for body in rows:
        directive = Directive.model_validate_json(body)
        fhir_id = links.get(directive.patient)
        ref = f"Patient/{fhir_id}" if fhir_id else f"Patient?identifier={DID_SYSTEM}|{directive.patient}"
        for entry in bundle_for(session, directive, ref)["entry"]:
            entries.setdefault(entry.get("fullUrl") or entry["request"]["url"], entry)
    return transaction(list(entries.values())), len(rows)


def write_export(session: Session, out: Path, actor: str) -> tuple[int, int]:
    """Write `export_bundle` to `out` as JSON and audit the export; returns (directives, entries)."""
    bundle, count = export_bundle(session)
    out.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    audit.record(session, actor, "export", "Directives", "ok", {"directives": count, "file": out.name})
    session.commit()
    return count, len(bundle["entry"])
