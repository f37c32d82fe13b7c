"""Fixtures of the FHIR tests: a SMART client registered with the session's Medplum server (`fhir_server`,
from tests/medplum_server.py), an EHR client authenticated as it, and a new Patient per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhir_builders import SCOPES, FhirServer, new_key
from joserfc.jwk import ECKey

from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.smart import SmartBackendAuth


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
