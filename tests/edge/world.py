"""Helpers of the edge tests: a real exported model folder, identities and a clinic opener, Depresjon input."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mindbridge.datapoints import Series
from mindbridge.edge.engine import EdgeEngine
from mindbridge.models.card import ModelCard
from mindbridge.models.features import ACTIGRAPHY_FEATURES
from mindbridge.models.linear import PARAMS_FILE, LinearRisk, sha256
from mindbridge.privacy.consent import ConsentBook, Scope, issue_grant, new_status_list
from mindbridge.privacy.did import Resolver, web_document
from mindbridge.privacy.envelope import Opener, Recipient
from mindbridge.privacy.keys import Identity
from mindbridge.privacy.replay import MemoryReplayGuard
from mindbridge.privacy.rotation import DeviceList, Roster
from mindbridge.sources.depresjon_lean import read_depresjon_csv
from mindbridge.summary import RiskSummary

CLINIC_DID = "did:web:clinic.example.org:edge"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
THRESHOLD = 0.42


def write_model(folder: Path, weights: np.ndarray | None = None, intercept: float = -0.3,
                features: tuple[str, ...] = ACTIGRAPHY_FEATURES) -> Path:
    """Export a linear risk model over `features` (the actigraphy ones by default) with the real exporter, and
    its card."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(features)
    w = np.linspace(-0.8, 0.8, n) if weights is None else weights
    model = LinearRisk(features, median=np.full(n, 1.0), mean=np.full(n, 2.0), scale=np.full(n, 40.0),
                       weights=w, intercept=intercept)
    model.save(folder / PARAMS_FILE)
    ModelCard(model_id="edge-test-logistic", version="0.0.1", created=NOW.isoformat(), description="test model",
              intended_use="tests", limits=["synthetic weights"], data="none", days_used="none", protocol="none",
              features=list(features), metrics={}, calibration="none", conformal={"alpha": 0.1},
              decision_threshold=THRESHOLD, artifacts={PARAMS_FILE: sha256(folder / PARAMS_FILE)},
              citation="none").write(folder)
    return folder


@dataclass(repr=False)
class Clinic:
    """A patient with an enrolled device, a clinic that holds a consent grant, and its opener."""

    patient: Identity
    device: Identity
    clinic: Identity
    recipient: Recipient
    opener: Opener[RiskSummary]


def make_clinic() -> Clinic:
    """Real identities, device list, consent grant and opener (in-memory replay guard)."""
    patient = Identity.generate("patient")
    device = Identity.generate("device", patient=patient.did)
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    roster = Roster()
    roster.update(DeviceList(patient.did, 0).enrol(device.did, NOW - dt.timedelta(days=1)).sign(patient))
    status = new_status_list(patient.did)
    book = ConsentBook(clinic.did, "treatment")
    book.update_status(status.sign(patient, NOW - dt.timedelta(hours=1)))
    scope = Scope.of(["activity", "circadian", "sleep"], ["risk", "deviations", "coverage", "surveys"])
    book.add_grant(issue_grant(patient, clinic.did, "treatment", scope, NOW + dt.timedelta(days=30), status.id, 3,
                               NOW - dt.timedelta(hours=2)))
    resolver = Resolver()
    assert clinic.agreement is not None
    resolver.add(web_document(clinic.did, clinic.signing.public_key(), clinic.agreement.public_key()))
    opener = Opener.for_clinic(clinic, roster, MemoryReplayGuard(), RiskSummary, book)
    return Clinic(patient, device, clinic, Recipient.of(resolver.resolve(clinic.did)), opener)


def new_engine(state: Path, model: Path, world: Clinic) -> EdgeEngine:
    """Initialise a state for the Depresjon device and open the engine on it."""
    EdgeEngine.init(state, model, world.device, tz="Europe/Oslo", source="Actiwatch AW4")
    return EdgeEngine.open(state, model, world.device, world.recipient)


def depresjon_series(folder: Path, name: str) -> Series:
    """One Depresjon subject's recording through the edge's lean reader."""
    group = name.split("_")[0]
    return read_depresjon_csv(folder / group / f"{name}.csv", name).series
