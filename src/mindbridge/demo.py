"""The demo: the whole spine on the bundled Depresjon data, device side to clinic side, in one run.

1. ingest the raw actigraphy, 2. daily biomarkers and a picture, 3. train and evaluate the risk model
(nested leave-one-subject-out) and sign it as the model team, 4. every subject's device replays its days
through the edge engine and seals one summary a day to the clinic under the patient's consent, 5. the hub
takes the envelopes in, builds directives and triages them, 6. the queue, the FHIR bundle and the command
that serves the hub on the demo's database.

The recordings date from 2002–2006; the demo re-dates each one so that it ends yesterday (local clock times
kept), because consent, status lists and data-gap rules are judged against today.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .datapoints import Kind, Series
from .edge.engine import EdgeEngine
from .edge.model_loader import sign_model
from .edge.replay import replay
from .hub.access import queue_for
from .hub.auth import Principal, assign, issue_token
from .hub.consent_registry import ConsentRegistry, enrol
from .hub.ehr import export_bundle
from .hub.repository import directives_of
from .hub.repository import patients as all_patients
from .hub.service import Hub, Settings
from .privacy.consent import Scope, issue_grant, new_status_list
from .privacy.did import web_document
from .privacy.envelope import Recipient
from .privacy.keys import Identity, save
from .privacy.rotation import DeviceList
from .sources.store import Store
from .sources.timezones import localize
from .steps import console
from .summary import TIERS

CLINIC_DID = "did:web:demo.mindbridge.example:clinic"
SCOPE = Scope.of(["activity", "circadian", "sleep"], ["risk", "deviations", "coverage", "surveys"])
CLINICIAN = "demo-clinician"
TIER_STYLE = {"critical": "bold red", "urgent": "red", "routine": "yellow", "info": "dim"}


@dataclass
class Patient:
    """One demo subject's identities, consent material and edge state."""

    subject: str
    patient: Identity
    device: Identity
    grant: str
    status: str
    devices: str


MARKER = ".mindbridge-demo"


def fresh_folder(out: Path) -> None:
    """Empty the demo's folder, refusing to touch a folder the demo did not make."""
    if out.exists():
        if not (out / MARKER).exists():
            raise FileExistsError(f"{out} exists and was not made by the demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by `mindbridge demo`; replaced on every run\n", encoding="utf-8")


def redate(series: Series, last_day: dt.date) -> tuple[Series, int]:
    """The series moved by whole local days so its last local day is `last_day`; minutes that fall into a
    daylight-saving gap at the new dates are dropped and counted."""
    local = series.local_time()
    shift = np.datetime64(last_day, "D") - local[-1].astype("datetime64[D]")
    utc, unplaced = localize(local + shift.astype("timedelta64[ns]"), series.tz)
    keep = ~unplaced
    return Series(series.subject, series.kind, series.source, series.tz, utc[keep],
                  {k: v[keep] for k, v in series.columns.items()}), int(unplaced.sum())


def enrol_patients(subjects: list[str], clinic: Identity, now: dt.datetime) -> list[Patient]:
    """A patient identity, an enrolled device and a treatment consent grant to the clinic for each subject."""
    out = []
    for subject in subjects:
        patient = Identity.generate("patient")
        device = Identity.generate("device", patient=patient.did)
        status = new_status_list(patient.did)
        grant = issue_grant(patient, clinic.did, "treatment", SCOPE, now + dt.timedelta(days=365), status.id, 1,
                            now - dt.timedelta(hours=1))
        devices = DeviceList(patient.did, 0).enrol(device.did, now - dt.timedelta(days=400)).sign(patient)
        out.append(Patient(subject, patient, device, grant, status.sign(patient, now - dt.timedelta(minutes=5)),
                           devices))
    return out


def replay_devices(store: Store, patients: list[Patient], model_dir: Path, model_team: Identity,
                   recipient: Recipient, out: Path, now: dt.datetime) -> list[bytes]:
    """Each subject's device replays its recording day by day and seals one summary a day."""
    envelopes: list[bytes] = []
    yesterday = now.date() - dt.timedelta(days=1)
    with Progress(TextColumn("[bold]devices"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=len(patients))
        for p in patients:
            series, _ = redate(next(store.series(subject=p.subject, kind=Kind.ACTIVITY_COUNTS)), yesterday)
            state = out / "devices" / f"{p.subject}.state"
            state.parent.mkdir(parents=True, exist_ok=True)
            EdgeEngine.init(state, model_dir, p.device, tz=series.tz, source=series.source,
                            signers=(model_team.did,))
            engine = EdgeEngine.open(state, model_dir, p.device, recipient)
            replay(engine, series, now=now,
                   on_day=lambda sealed: envelopes.append(sealed.envelope) if sealed.envelope else None)
            bar.update(task, advance=1, description=p.subject)
    return envelopes


def run_hub(patients: list[Patient], envelopes: list[bytes], clinic: Identity, db: Path,
            now: dt.datetime) -> tuple[Hub, int]:
    """Start the hub on the demo's SQLite file, register consents, take every envelope in, run the cycle."""
    hub = Hub.start(Settings(database_url=f"sqlite:///{db}", timezone="Europe/Oslo"), clinic)
    with hub.sessions() as s:
        registry = ConsentRegistry(s, clinic.did)
        for p in patients:
            enrol(s, p.devices, now, label=f"Depresjon {p.subject}")
            registry.update_status(p.status)
            registry.add_grant(p.grant, now)
        s.commit()
    accepted = 0
    with Progress(TextColumn("[bold]hub intake"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("", total=len(envelopes))
        for data in envelopes:
            _, new = hub.receive(data, now)
            accepted += new
            bar.update(task, advance=1)
    hub.settle(120)
    hub.cycle_all(now)
    return hub, accepted


def queue_table(hub: Hub, patients: list[Patient], now: dt.datetime) -> Table:
    """The clinician's triage queue: interruptive alerts first, then the digest, each in priority order."""
    label = {p.patient.did: p.subject for p in patients}
    with hub.sessions() as s:
        delivery = queue_for(s, hub, Principal(CLINICIAN, "clinician"), now)
        s.commit()
    table = Table(title=f"Triage queue of {CLINICIAN}: {len(delivery.interruptive)} interruptive, "
                        f"{len(delivery.digest)} in the digest")
    for col in ("", "tier", "patient", "action", "due", "why"):
        table.add_column(col, overflow="fold")
    for route, items in (("alert", delivery.interruptive), ("digest", delivery.digest)):
        for i in items:
            table.add_row(route, f"[{TIER_STYLE[i.tier]}]{i.tier}[/]", label.get(i.patient, i.patient[:16]),
                          i.directive.action_text, f"{i.due:%Y-%m-%d %H:%M}", i.directive.rationale)
    return table


def tier_counts(hub: Hub) -> dict[str, int]:
    """How many directives of each tier the cycle produced."""
    with hub.sessions() as s:
        counts: dict[str, int] = dict.fromkeys(TIERS, 0)
        for patient in all_patients(s):
            for d in directives_of(s, patient):
                counts[d.tier] += 1
    return counts


def write_fhir(hub: Hub, path: Path) -> int:
    """The FHIR R4 transaction bundle of every directive; returns its number of entries."""
    with hub.sessions() as s:
        bundle, _ = export_bundle(s)
    path.write_text(json.dumps(bundle, indent=1), encoding="utf-8")
    return len(bundle.get("entry", []))


def clinic_identity(out: Path) -> tuple[Identity, Recipient, Path, Path]:
    """The clinic's identity, saved as an encrypted keystore with a random passphrase in a private file."""
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    passphrase = secrets.token_urlsafe(24)
    key, secret = out / "clinic.keystore.json", out / "clinic.passphrase"
    save(clinic, key, passphrase)
    secret.write_text(passphrase + "\n", encoding="utf-8")
    secret.chmod(0o600)
    assert clinic.agreement is not None
    doc = web_document(clinic.did, clinic.signing.public_key(), clinic.agreement.public_key())
    return clinic, Recipient.of(doc), key, secret


def sign_as_model_team(model_dir: Path) -> Identity:
    """A model-team identity (did:key) that signs the trained artifact; the edge trusts only its signature."""
    team = Identity.generate("model-team")
    sign_model(model_dir, team)
    return team


def clinician_token(hub: Hub, patients: list[Patient]) -> str:
    """A clinician with every demo patient on their panel; the bearer token for the inbox."""
    with hub.sessions() as s:
        token = issue_token(s, CLINICIAN, "clinician")
        for p in patients:
            assign(s, CLINICIAN, p.patient.did)
        s.commit()
    return token
