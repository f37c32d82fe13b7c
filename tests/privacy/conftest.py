"""Shared fixtures for the privacy tests: a patient, an enrolled device, a clinic, consent and an opener."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from mindbridge.privacy.canonical import canonical
from mindbridge.privacy.consent import ConsentBook, Scope, StatusList, issue_grant, new_status_list
from mindbridge.privacy.did import Resolver, web_document
from mindbridge.privacy.envelope import Opener, Recipient, seal
from mindbridge.privacy.keys import Identity
from mindbridge.privacy.replay import MemoryReplayGuard, ReplayGuard, SqliteReplayGuard
from mindbridge.privacy.rotation import DeviceList, Roster
from mindbridge.summary import Deviation, Interval, RiskSummary

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CLINIC_DID = "did:web:clinic.example.org:north"
FAMILIES = ("sleep", "activity")
OUTPUTS = ("risk", "deviations", "coverage")


def summary_for(patient: str, **changes: object) -> RiskSummary:
    """A realistic RiskSummary about `patient`."""
    data: dict[str, object] = dict(
        subject=patient, window_start=dt.date(2025, 2, 15), window_end=dt.date(2025, 2, 28), created_at=NOW,
        model_id="logit-actigraphy", model_version="1.0.0", probability=0.31,
        interval=Interval(lower=0.22, upper=0.41), risk_band="moderate",
        deviations=[Deviation(biomarker="sleep_duration", family="sleep", unit="h", value=5.1, baseline=7.2,
                              robust_z=-2.4, days=5, text="Sleeping about two hours less than usual")],
        coverage={"sleep": 0.92, "activity": 0.88})
    data.update(changes)
    return RiskSummary.model_validate(data)


@dataclass(repr=False)
class World:
    """Everyone and everything an envelope exchange needs, at time NOW."""

    patient: Identity
    device: Identity
    clinic: Identity
    devices: DeviceList
    roster: Roster
    status: StatusList
    grant: str
    book: ConsentBook
    guard: ReplayGuard
    opener: Opener[RiskSummary]
    recipient: Recipient
    seq: int = 0

    def seal(self, payload: object = None, *, device: Identity | None = None, now: dt.datetime = NOW,
             recipient: Recipient | None = None, seq: int | None = None) -> bytes:
        """A correctly sealed envelope (next sequence number unless given)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        body = payload if payload is not None else summary_for(self.patient.did)
        return seal(body, device or self.device, recipient or self.recipient, seq, now)  # type: ignore[arg-type]

    def new_grant(self, *, grantee: str = CLINIC_DID, purpose: str = "treatment", families: tuple[str, ...] = FAMILIES,
                  outputs: tuple[str, ...] = OUTPUTS, expires: dt.datetime | None = None, index: int = 7,
                  patient: Identity | None = None, issued: dt.datetime = NOW - dt.timedelta(days=1)) -> str:
        """A consent grant JWT with the given variations."""
        return issue_grant(patient or self.patient, grantee, purpose, Scope.of(list(families), list(outputs)),  # type: ignore[arg-type]
                           expires or NOW + dt.timedelta(days=90), self.status.id, index, issued)


def make_world(guard: ReplayGuard) -> World:
    """A fresh world with a consenting patient, one enrolled device and a clinic."""
    patient = Identity.generate("patient")
    device = Identity.generate("device", patient=patient.did)
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    devices = DeviceList(patient.did, 0).enrol(device.did, NOW - dt.timedelta(days=30))
    roster = Roster()
    roster.update(devices.sign(patient))
    status = new_status_list(patient.did)
    book = ConsentBook(clinic.did, "treatment")
    book.update_status(status.sign(patient, NOW - dt.timedelta(hours=1)))
    resolver = Resolver()
    assert clinic.agreement is not None
    resolver.add(web_document(clinic.did, clinic.signing.public_key(), clinic.agreement.public_key()))
    recipient = Recipient.of(resolver.resolve(clinic.did))
    opener = Opener.for_clinic(clinic, roster, guard, RiskSummary, book)
    world = World(patient, device, clinic, devices, roster, status, "", book, guard, opener, recipient)
    world.grant = world.new_grant()
    book.add_grant(world.grant)
    return world


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    """A world whose replay guard is in memory or in SQLite."""
    guard: ReplayGuard = MemoryReplayGuard() if request.param == "memory" else SqliteReplayGuard(
        tmp_path / "replay.sqlite")
    return make_world(guard)


@pytest.fixture
def memory_world() -> World:
    """A world with an in-memory replay guard."""
    return make_world(MemoryReplayGuard())


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, object], payload: object, signer: Ed25519PrivateKey, to: X25519PublicKey) -> bytes:
    """An envelope built from docs/privacy.md's description alone, with any header, payload and signer."""
    domain = b"mindbridge-envelope/1\0"
    hdr = canonical(header)
    body = canonical(payload)
    signature = signer.sign(domain + len(hdr).to_bytes(4, "big") + hdr + body)
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    sealed = suite.encrypt(signature + body, to, info=domain + hdr)
    return canonical({"v": "mindbridge-envelope/1", "hdr": header, "ct": b64(sealed)})


def header_for(world: World, **changes: object) -> dict[str, object]:
    """A valid header for the world's device, with changes."""
    world.seq += 1
    header: dict[str, object] = {"id": str(uuid.uuid4()), "alg": "HPKE-Base-X25519-SHA256-AES256GCM+Ed25519",
                                 "sender": world.device.did, "patient": world.patient.did,
                                 "recipient": world.recipient.kid, "created": int(NOW.timestamp()),
                                 "seq": world.seq, "cty": "risk-summary/1"}
    header.update(changes)
    return header


def edit(envelope: bytes, change: Callable[[dict[str, object]], None]) -> bytes:
    """The envelope with its JSON changed by `change`."""
    data = json.loads(envelope)
    change(data)
    return json.dumps(data).encode()
