"""A patient's signed consent grant, mapped by the privacy package, is a valid R4 Consent on a real server."""

from __future__ import annotations

import datetime as dt

import pytest

from mindbridge.fhir.bundle import create_entry, transaction
from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.resources import consent
from mindbridge.fhir.validate import R4Schema
from mindbridge.privacy.consent import Scope, issue_grant, new_status_list, read_grant, to_fhir_consent
from mindbridge.privacy.keys import Identity

NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
CLINIC = "did:web:clinic.example.org"


@pytest.mark.parametrize(("purpose", "revoked"), [("treatment", False), ("research", False), ("treatment", True)])
def test_grant_maps_to_a_consent_the_validators_accept(schema: R4Schema, ehr: EhrClient, purpose: str,
                                                       revoked: bool) -> None:
    patient = Identity.generate("patient")
    token = issue_grant(patient, CLINIC, purpose, Scope.of(["activity", "sleep"], ["risk"]),  # type: ignore[arg-type]
                        NOW + dt.timedelta(days=90), new_status_list(patient.did).id, 3, NOW)
    resource = to_fhir_consent(read_grant(token), revoked=revoked, now=NOW + dt.timedelta(days=1))
    assert schema.errors(resource) == []
    assert resource["status"] == ("inactive" if revoked else "active")
    bundle = transaction([create_entry(consent(resource))])
    assert ehr.push(bundle).locations == ehr.push(bundle).locations
    identifier = resource["identifier"]
    assert isinstance(identifier, list)
    (stored,) = ehr.search("Consent", {"identifier": f"urn:ietf:rfc:3986|{identifier[0]['value']}"})
    assert stored["scope"]["coding"][0]["code"] == purpose
    assert {c["code"] for c in stored["provision"]["class"]} == {"activity", "sleep", "risk"}
