"""A hub served the way a clinic runs it (`python -m mindbridge.hub serve` in its own process, on loopback),
optionally connected to an EHR through $MINDBRIDGE_HUB_EHR; patients enrolled, consenting and on a panel."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from hub.service.hubworld import CLINIC_DID, Kit, free_port, make_kit, recipient_of
from mindbridge.hub.auth import issue_token
from mindbridge.hub.db import make_engine, migrate, sessions, sqlite_url
from mindbridge.privacy.envelope import Recipient
from mindbridge.privacy.keys import Identity, save
from processes import stop

PASSPHRASE = "correct horse battery staple"
CLINICIAN = "alice"


@dataclass
class ServedHub:
    """The running hub: its URL, an admin's and a clinician's token, the clinic identity, its database."""

    url: str
    admin: str
    clinician: str
    clinic: Identity
    db_url: str
    log: Path

    @property
    def to(self) -> Recipient:
        """Where devices seal their envelopes."""
        return recipient_of(self.clinic)

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for the hub, with a bearer token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def enrol(self, now: dt.datetime, label: str = "") -> Kit:
        """A new patient with a device, enrolled (with a label), consenting, and on the clinician's panel."""
        kit = make_kit(now)
        with self.client(self.admin) as admin:
            enrolled = admin.post("/admin/patients", json={"device_list": kit.device_list(), "label": label})
            assert enrolled.status_code == 201
            assert admin.post("/consents/status", json={"status_list": kit.status_list()}).status_code == 201
            assert admin.post("/consents", json={"grant": kit.grant}).status_code == 201
            assert admin.post("/admin/panels", json={"clinician": CLINICIAN, "patient": kit.did}).status_code == 201
        return kit

    def send(self, envelopes: list[bytes]) -> None:
        """Upload sealed envelopes; each must be accepted."""
        with self.client() as device:
            for envelope in envelopes:
                reply = device.post("/intake", content=envelope)
                assert reply.status_code == 201, reply.text

    def wait_for(self, what: str, check: Any, timeout: float = 30.0) -> Any:
        """Poll `check()` until it returns something truthy (the background cycle and outbox run on their own)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; hub log: {self.log.read_text()[-3000:]}")


@contextmanager
def served_hub(folder: Path, ehr_settings: dict[str, Any] | None = None) -> Iterator[ServedHub]:
    """Serve a new hub from `folder` (SQLite) until the block ends; `ehr_settings` becomes its EHR settings file."""
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    save(clinic, folder / "clinic.json", PASSPHRASE, n=2**12)
    db_url = sqlite_url(folder / "hub.sqlite")
    engine = make_engine(db_url)
    migrate(engine)
    with sessions(engine)() as session:
        admin, clinician = issue_token(session, "root", "admin"), issue_token(session, CLINICIAN, "clinician")
        session.commit()
    engine.dispose()
    env = {**os.environ, "MINDBRIDGE_PASSPHRASE": PASSPHRASE}
    if ehr_settings is not None:
        (folder / "ehr.yaml").write_text(yaml.safe_dump(ehr_settings), encoding="utf-8")
        env["MINDBRIDGE_HUB_EHR"] = str(folder / "ehr.yaml")
    port, log = free_port(), folder / "hub.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mindbridge.hub", "serve", "--clinic-key",
                                 str(folder / "clinic.json"), "--db", db_url, "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    hub = ServedHub(f"http://127.0.0.1:{port}", admin, clinician, clinic, db_url, log)
    try:
        hub.wait_for("the hub to answer /health", lambda: _healthy(hub.url) or proc.poll() is not None)
        assert proc.poll() is None, f"the hub exited: {log.read_text()[-3000:]}"
        yield hub
    finally:
        stop(proc, 15)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def write_json(path: Path, value: dict[str, Any]) -> Path:
    """Write a JSON file and return its path."""
    path.write_text(json.dumps(value), encoding="utf-8")
    return path
