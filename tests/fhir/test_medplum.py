"""Against a real, independent FHIR server (Medplum 4.5.2 on loopback): push, read back, search, idempotence."""

from __future__ import annotations

import httpx
import pytest
from fhir_builders import FhirServer, directive, summary

from mindbridge.fhir import codes
from mindbridge.fhir.bundle import audit_bundle, create_entry, directive_bundle, summary_bundle, transaction
from mindbridge.fhir.client import EhrClient, FhirError
from mindbridge.fhir.resources import consent


def counts(ehr: EhrClient, patient: str) -> dict[str, int]:
    """How many resources of each clinical type the server holds for `patient`."""
    searches = {"RiskAssessment": "subject", "Observation": "subject", "DetectedIssue": "patient", "Task": "patient",
                "CommunicationRequest": "subject", "Flag": "subject"}
    return {kind: len(ehr.search(kind, {param: patient})) for kind, param in searches.items()}


def test_directive_bundle_is_accepted_and_reads_back_with_resolved_references(ehr: EhrClient, patient: str) -> None:
    bundle = directive_bundle(directive(id="push-1"), patient, band="moderate")
    result = ehr.push(bundle)
    assert result.statuses and all(s.startswith("201") or s.startswith("200") for s in result.statuses)
    locations = dict(zip([e["resource"]["resourceType"] for e in bundle["entry"]], result.locations, strict=True))
    risk = ehr.read(locations["RiskAssessment"])
    assert risk["prediction"][0]["probabilityDecimal"] == pytest.approx(42.0)
    # Placeholders were rewritten by the server: every basis reference is a real, readable Observation.
    for ref in risk["basis"]:
        assert ref["reference"].startswith("Observation/")
        assert ehr.read(ref["reference"])["subject"] == {"reference": patient}
    task = ehr.read(locations["Task"])
    assert task["priority"] == "stat" and task["restriction"]["period"]["end"] == "2026-03-02T17:30:00Z"
    assert ehr.read(task["focus"]["reference"])["resourceType"] == "CommunicationRequest"
    provenance = ehr.read(locations["Provenance"])
    targets = {t["reference"] for t in provenance["target"]}
    assert locations["Task"] in targets and locations["RiskAssessment"] in targets
    assert not any(t.startswith("urn:uuid:") for t in targets)


def test_pushing_twice_creates_nothing_twice(ehr: EhrClient, patient: str) -> None:
    bundle = directive_bundle(directive(id="idem-1"), patient)
    first = ehr.push(bundle)
    before = counts(ehr, patient)
    second = ehr.push(bundle)
    clinical = [e for e in bundle["entry"] if e["resource"]["resourceType"] not in ("Device", "Provenance")]
    assert first.created >= len(clinical)  # the Devices may exist already from other tests
    assert second.created == 0  # every conditional create matched; the Provenance PUT made a new version
    assert second.locations == first.locations
    assert counts(ehr, patient) == before
    assert before == {"RiskAssessment": 1, "Observation": 4, "DetectedIssue": 1, "Task": 1,
                      "CommunicationRequest": 1, "Flag": 1}


def test_second_directive_on_same_evidence_reuses_the_observations(ehr: EhrClient, patient: str) -> None:
    ehr.push(directive_bundle(directive(id="share-a"), patient))
    ehr.push(directive_bundle(directive(id="share-b", tier="routine", action="clinician_review"), patient))
    found = counts(ehr, patient)
    assert found["Observation"] == 4 and found["Task"] == 2 and found["Flag"] == 1


def test_search_by_code_priority_and_identifier(ehr: EhrClient, patient: str) -> None:
    ehr.push(directive_bundle(directive(id="search-1"), patient))
    item9 = ehr.search("Observation", {"subject": patient, "code": f"{codes.LOINC}|44260-8"})
    assert len(item9) == 1 and item9[0]["valueCodeableConcept"]["coding"][0]["code"] == "LA6569-3"
    stat = ehr.search("Task", {"patient": patient, "priority": "stat"})
    assert [t["identifier"][0]["value"] for t in stat] == ["search-1"]
    ident = codes.identifier("detected-issue", "search-1")
    assert len(ehr.search("DetectedIssue", {"identifier": f"{ident['system']}|{ident['value']}"})) == 1


def test_medplum_validator_rejects_an_invalid_resource_and_the_error_names_it(ehr: EhrClient, patient: str) -> None:
    bundle = directive_bundle(directive(id="ras2"), patient)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "RiskAssessment":
            entry["resource"]["prediction"][0]["probabilityDecimal"] = 42.0 * 100  # a percent of a percent
    with pytest.raises(FhirError, match=r"invariant.*<= 100.* at RiskAssessment\.prediction\[0\]") as caught:
        ehr.push(bundle)
    assert caught.value.status == 400
    assert counts(ehr, patient)["Task"] == 0  # the transaction is atomic: nothing was kept


def test_summary_audit_and_consent_bundles_are_accepted_and_idempotent(ehr: EhrClient, patient: str) -> None:
    grant = consent({
        "resourceType": "Consent", "status": "active", "identifier": [codes.identifier("consent", patient)],
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": patient}, "provision": {"type": "permit"},
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
    })
    audit = [{"seq": n, "hash": f"h{n}", "at": "2026-03-02T09:30:00Z", "actor": "clinician:ana", "action": "read",
              "patient": patient} for n in range(3)]
    for bundle in (summary_bundle(summary(), f"env-{patient}", patient), audit_bundle(audit),
                   transaction([create_entry(grant)])):
        first, second = ehr.push(bundle), ehr.push(bundle)
        assert first.locations == second.locations
    assert len(ehr.search("RiskAssessment", {"subject": patient})) == 1
    assert len(ehr.search("Consent", {"patient": patient})) == 1
    events = ehr.search("AuditEvent", {"patient": patient})
    assert sorted(e["entity"][0]["detail"][0]["valueString"] for e in events) == ["h0", "h1", "h2"]


def test_fhir_calls_without_a_token_are_refused(fhir_server: FhirServer) -> None:
    reply = httpx.get(f"{fhir_server.fhir_base}/Task")
    assert reply.status_code == 401
    assert httpx.get(f"{fhir_server.fhir_base}/metadata").json()["fhirVersion"] == "4.0.1"
