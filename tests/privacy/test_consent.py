"""Consent grants, the status list and the FHIR R4 Consent mapping."""

from __future__ import annotations

import base64
import datetime as dt
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.privacy.consent import (
    STATUS_BITS,
    Scope,
    check_consent,
    new_status_list,
    read_grant,
    read_status_list,
    scope_of_summary,
    to_fhir_consent,
)
from mindbridge.privacy.errors import ConsentRefused, ConsentRevoked, MalformedInput
from mindbridge.privacy.keys import Identity
from mindbridge.privacy.tokens import unverified

from .conftest import CLINIC_DID, NOW, World, summary_for

PATIENT = Identity.generate("patient")


def test_grant_claims_and_check(memory_world: World) -> None:
    grant = check_consent(memory_world.grant, memory_world.book.status[memory_world.status.id],
                          patient=memory_world.patient.did, grantee=CLINIC_DID, purpose="treatment",
                          needs=Scope.of(["sleep"], ["risk"]), now=NOW)
    assert grant.patient == memory_world.patient.did and grant.grantee == CLINIC_DID
    assert grant.scope == Scope.of(["sleep", "activity"], ["risk", "deviations", "coverage"])
    header, claims = unverified(memory_world.grant, "consent+jwt")
    assert header["alg"] == "Ed25519" and header["kid"] == memory_world.patient.did
    assert claims["credentialStatus"]["statusPurpose"] == "revocation"  # type: ignore[index]


@settings(max_examples=30, deadline=None)
@given(st.sets(st.integers(0, STATUS_BITS - 1), max_size=8), st.integers(0, STATUS_BITS - 1))
def test_status_list_bits_survive_signing(revoked: set[int], probe: int) -> None:
    status = new_status_list(PATIENT.did)
    for index in revoked:
        status = status.revoke(index)
    back = read_status_list(status.sign(PATIENT, NOW))
    assert back.issuer == PATIENT.did and back.id == status.id
    assert all(back.revoked(i) for i in revoked)
    assert back.revoked(probe) == (probe in revoked)


def test_status_list_encoding_is_the_w3c_bitstring() -> None:
    status = new_status_list(PATIENT.did).revoke(0).revoke(9)
    encoded = unverified(status.sign(PATIENT, NOW), "status-list+jwt")[1]["credentialSubject"]["encodedList"]  # type: ignore[index]
    assert encoded.startswith("u")
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) * 8 == STATUS_BITS == 131_072
    assert bits[0] == 0b1000_0000 and bits[1] == 0b0100_0000 and not any(bits[2:])


def test_revocation_applies_only_to_its_index(memory_world: World) -> None:
    w = memory_world
    other = w.new_grant(index=8)
    w.book.add_grant(other)
    w.book.update_status(w.status.revoke(7).sign(w.patient, NOW))
    held = w.book.status[w.status.id]
    with pytest.raises(ConsentRevoked):
        check_consent(w.grant, held, patient=w.patient.did, grantee=CLINIC_DID, purpose="treatment",
                      needs=Scope(), now=NOW)
    assert w.book(w.patient.did, Scope.of(["sleep"], ["risk"]), NOW).status_index == 8


def test_a_stale_status_list_is_refused(memory_world: World) -> None:
    with pytest.raises(ConsentRefused, match="older than"):
        memory_world.book(memory_world.patient.did, Scope(), NOW + dt.timedelta(days=8))


def test_scope_of_a_summary() -> None:
    data = summary_for(PATIENT.did).model_dump(mode="json")
    assert scope_of_summary(data) == Scope.of(["sleep", "activity"], ["risk", "deviations", "coverage"])
    data.update(deviations=[], coverage={})
    assert scope_of_summary(data) == Scope.of([], ["risk"])


@pytest.mark.parametrize("bad", [["x" * 65], "sleep", [3]])
def test_scope_names_are_validated(bad: object) -> None:
    with pytest.raises(MalformedInput):
        Scope.of(bad, [])


def test_fhir_r4_consent(memory_world: World) -> None:
    grant = read_grant(memory_world.new_grant(purpose="research"))
    resource = to_fhir_consent(grant, now=NOW)
    assert resource["resourceType"] == "Consent" and resource["status"] == "active"
    assert resource["scope"] == {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                             "code": "research"}]}
    assert resource["patient"] == {"identifier": {"system": "urn:ietf:rfc:3986", "value": memory_world.patient.did}}
    assert "policyRule" in resource  # invariant ppc-1: a policy or a policyRule
    provision = resource["provision"]
    assert isinstance(provision, dict)
    assert provision["purpose"][0]["code"] == "HRESCH"
    assert provision["period"]["end"] == grant.expires.isoformat().replace("+00:00", "Z")
    assert provision["actor"][0]["reference"]["identifier"]["value"] == CLINIC_DID
    assert {c["code"] for c in provision["class"]} == {"sleep", "activity", "risk", "deviations", "coverage"}
    assert "provision" not in provision and "decision" not in resource  # R4 shape, not R5
    assert to_fhir_consent(grant, revoked=True, now=NOW)["status"] == "inactive"
    assert to_fhir_consent(grant, now=grant.expires)["status"] == "inactive"
