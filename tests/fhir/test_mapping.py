"""Mapping and bundles without a server: codes, tiers, identifiers, placeholders and the R4 JSON schema."""

from __future__ import annotations

import copy
import datetime as dt
import math
from pathlib import Path

import pytest
from fhir_builders import deviation, directive, directives, evidence, summary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mindbridge.fhir import codes
from mindbridge.fhir.bundle import audit_bundle, create_entry, directive_bundle, summary_bundle, transaction
from mindbridge.fhir.observations import deviation_observation
from mindbridge.fhir.provenance import audit_event
from mindbridge.fhir.requests import RequestKind, request_bundle
from mindbridge.fhir.resources import consent, mitigation, probability_percent
from mindbridge.fhir.validate import R4Schema
from mindbridge.summary import Directive


def by_type(bundle: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


@given(st.floats(min_value=0.0, max_value=1.0))
def test_probability_is_a_percentage_within_ras2(p: float) -> None:
    percent = probability_percent(p)
    assert 0.0 <= percent <= 100.0
    assert math.isclose(percent, 100 * p, abs_tol=1e-3)


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_probability_outside_unit_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        probability_percent(bad)


def test_critical_safety_directive_maps_to_stat_task_high_issue_safety_flag_and_contact() -> None:
    resources = by_type(directive_bundle(directive(), "Patient/p1", band="moderate"))
    task = resources["Task"][0]
    assert task["priority"] == "stat" and task["intent"] == "order" and task["status"] == "requested"
    assert task["restriction"]["period"]["end"] == "2026-03-02T17:30:00Z"
    assert task["for"] == {"reference": "Patient/p1"}
    assert resources["DetectedIssue"][0]["severity"] == "high"
    assert resources["Flag"][0]["category"][0]["coding"][0]["code"] == "safety"
    assert resources["CommunicationRequest"][0]["priority"] == "stat"
    risk = resources["RiskAssessment"][0]
    assert risk["prediction"][0]["probabilityDecimal"] == pytest.approx(42.0)
    assert risk["prediction"][0]["qualitativeRisk"]["coding"][0] == {"system": codes.RISK_PROBABILITY,
                                                                     "code": "moderate"}
    interval = risk["prediction"][0]["extension"][0]
    assert interval["url"] == codes.INTERVAL_EXTENSION
    assert interval["extension"][0]["valueRange"]["low"]["value"] == pytest.approx(32.0)


def test_routine_review_has_no_flag_and_no_patient_contact() -> None:
    resources = by_type(directive_bundle(directive(tier="routine", action="review_at_next_visit"), "Patient/p1"))
    assert "Flag" not in resources and "CommunicationRequest" not in resources
    assert resources["Task"][0]["priority"] == "routine"
    assert resources["DetectedIssue"][0]["severity"] == "low"
    # Without a contact request, the Task's focus is the detected issue itself.
    issue_ref = create_entry(resources["DetectedIssue"][0])["fullUrl"]
    assert resources["Task"][0]["focus"]["reference"] == issue_ref


def test_medication_suggestion_is_a_proposal_never_an_order() -> None:
    task = by_type(directive_bundle(directive(tier="routine", action="medication_review_suggestion",
                                              suggestion_only=True), "Patient/p1"))["Task"][0]
    assert task["intent"] == "proposal"


def test_loinc_where_it_exists_and_project_code_otherwise() -> None:
    resources = by_type(directive_bundle(directive(), "Patient/p1"))
    codings = {o["code"]["coding"][0]["code"]: o for o in resources["Observation"]}
    assert codings["93832-4"]["code"]["coding"][0]["system"] == codes.LOINC  # sleep duration
    assert codings["home_time"]["code"]["coding"][0]["system"] == codes.BIOMARKER_SYSTEM
    assert codings["44261-6"]["valueQuantity"]["value"] == 14  # PHQ-9 total
    item9 = codings["44260-8"]  # PHQ-9 item 9 under its alias "item9"
    assert item9["valueCodeableConcept"]["coding"][0]["code"] == "LA6569-3"  # "Several days" = 1
    sleep = codings["93832-4"]
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in sleep["component"]}
    assert components["baseline"]["value"] == 420 and components["robust-z"]["value"] == -2.6
    assert "sustained-since" not in components


def test_a_sustained_shift_travels_as_its_onset_component() -> None:
    shifted = deviation().model_copy(update={"sustained_since": dt.date(2026, 2, 20)})
    resources = by_type(directive_bundle(directive(evidence=evidence(deviations=[shifted])), "Patient/p1"))
    [sleep] = [o for o in resources["Observation"] if o["code"]["coding"][0]["code"] == "93832-4"]
    [onset] = [c for c in sleep["component"] if c["code"]["coding"][0]["code"] == "sustained-since"]
    assert onset["valueDateTime"] == "2026-02-20"


def test_every_placeholder_reference_is_declared_and_the_bundle_is_deterministic() -> None:
    first = directive_bundle(directive(), "Patient/p1")
    assert first == directive_bundle(directive(), "Patient/p1")
    declared = {e["fullUrl"] for e in first["entry"] if "fullUrl" in e}
    for entry in first["entry"]:
        if entry["request"]["method"] == "POST":
            ident = entry["resource"]["identifier"][0]
            assert entry["request"]["ifNoneExist"] == f"identifier={ident['system']}|{ident['value']}"
    refs = str(first).count("urn:uuid:")
    assert refs > len(declared)  # resources do refer to each other through the placeholders
    provenance = by_type(first)["Provenance"][0]
    assert {t["reference"] for t in provenance["target"]} <= declared
    assert len(provenance["target"]) == len(first["entry"]) - 3  # all but two Devices and itself


def test_two_directives_on_the_same_evidence_share_observations_but_not_work_items() -> None:
    one = by_type(directive_bundle(directive(id="a"), "Patient/p1"))
    two = by_type(directive_bundle(directive(id="b"), "Patient/p1"))
    assert [o["identifier"] for o in one["Observation"]] == [o["identifier"] for o in two["Observation"]]
    assert one["Task"][0]["identifier"] != two["Task"][0]["identifier"]


def test_a_dangling_placeholder_is_refused_with_its_entry() -> None:
    bundle = directive_bundle(directive(), "Patient/p1")
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "DetectedIssue"]
    with pytest.raises(ValueError, match=r"Bundle.entry\[\d+\] \(\w+\): reference urn:uuid:"):
        transaction(entries)


def test_naive_datetimes_and_nan_values_are_refused_naming_the_field() -> None:
    naive = dt.datetime(2026, 3, 2, 9, 30)
    with pytest.raises(ValueError, match=r"^[\w.]+: datetime 2026-03-02T09:30:00 has no time zone"):
        directive_bundle(directive(created_at=naive, due=naive), "Patient/p1")
    with pytest.raises(ValueError, match="finite number"):  # the shared type refuses it first
        deviation(value=float("nan"))
    unchecked = deviation().model_copy(update={"value": float("nan")})  # the mapping's own guard, behind it
    with pytest.raises(ValueError, match=r"deviation sleep_total\.value"):
        deviation_observation(unchecked, codes.identifier("observation", "x"), "Patient/p1",
                              (dt.date(2026, 1, 1), dt.date(2026, 1, 2)))


@pytest.mark.parametrize("bad", ["a|b", "a,b", "a$b", "a\\b"])
def test_identifier_values_that_would_break_a_token_search_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="search-reserved"):
        directive_bundle(directive(id=bad), "Patient/p1")


def test_no_risk_assessment_without_a_probability() -> None:
    resources = by_type(directive_bundle(directive(evidence=evidence(None)), "Patient/p1"))
    assert "RiskAssessment" not in resources
    assert "implicated" not in resources["DetectedIssue"][0]


def test_consent_pass_through_checks_r4_shape() -> None:
    good = {"resourceType": "Consent", "status": "active", "identifier": [codes.identifier("consent", "g1")],
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/p1"}, "provision": {"type": "permit"},
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]}}
    assert consent(good)["provision"] == {"type": "permit"}
    with pytest.raises(ValueError, match=r"Consent\.scope"):
        consent({k: v for k, v in good.items() if k != "scope"})
    with pytest.raises(ValueError, match=r"Consent\.policy: .* ppc-1"):
        consent({k: v for k, v in good.items() if k != "policyRule"})
    with pytest.raises(ValueError, match=r"Consent\.decision"):
        consent(good | {"decision": "permit"})


def test_audit_entry_fields_are_named_when_missing() -> None:
    with pytest.raises(ValidationError, match="hash"):
        audit_event({"seq": 1, "at": "2026-03-02T09:30:00Z", "actor": "clinician:ana", "action": "read"},
                    "Device/hub")


def test_audit_event_balp_shape() -> None:
    event = audit_event({"seq": 7, "hash": "ab12", "at": "2026-03-02T09:30:00+00:00", "actor": "Practitioner/ana",
                         "action": "read", "patient": "Patient/p1", "resource": "Task/t1", "prev": "ignored"},
                        "Device/hub")
    assert event["type"]["code"] == "rest" and event["subtype"][0]["code"] == "read" and event["action"] == "R"
    assert event["agent"][0] == {"type": event["agent"][0]["type"], "who": {"reference": "Practitioner/ana"},
                                 "requestor": True}
    roles = [e.get("role", {}).get("code") for e in event["entity"]]
    assert roles == [None, "1", "4"]  # chain entry, patient, data
    assert event["entity"][0]["detail"][0]["valueString"] == "ab12"
    exported = audit_event({"seq": 8, "hash": "cd", "at": "2026-03-02T09:31:00+00:00", "actor": "admin:root",
                            "action": "export", "outcome": "failure"}, "Device/hub")
    assert exported["type"]["code"] == "110106" and "subtype" not in exported and exported["outcome"] == "8"


def test_mitigation_records_the_clinician_response() -> None:
    entry = mitigation("overridden", "Already addressed", dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC),
                       "Practitioner/ana")
    assert entry["action"]["coding"][0]["code"] == "overridden" and entry["author"] == {"reference":
                                                                                          "Practitioner/ana"}


# --- the official R4 JSON schema ---------------------------------------------------------------------------


def test_schema_catches_what_the_r4b_models_let_through(schema: R4Schema) -> None:
    task = copy.deepcopy(by_type(directive_bundle(directive(), "Patient/p1"))["Task"][0])
    assert schema.errors(task) == []
    task["status"] = "bogus"
    task["colour"] = "red"
    errors = schema.errors(task)
    assert any(e.startswith("Task.status:") for e in errors)
    assert any("colour" in e for e in errors)


def test_r5_only_elements_are_refused_by_the_r4_schema(schema: R4Schema) -> None:
    request = by_type(directive_bundle(directive(), "Patient/p1"))["CommunicationRequest"][0]
    with pytest.raises(ValueError, match="intent"):
        schema.check(request | {"intent": "order"})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(directives())
def test_every_resource_of_any_directive_passes_the_r4_schema(schema: R4Schema, made: Directive) -> None:
    schema.check(directive_bundle(made, "Patient/p1"))


def test_summary_and_audit_bundles_pass_the_r4_schema(schema: R4Schema) -> None:
    schema.check(summary_bundle(summary(), "env-123", "Patient/p1"))
    schema.check(audit_bundle([{"seq": 1, "hash": "h1", "at": "2026-03-02T09:30:00Z", "actor": "clinician:ana",
                                "action": "intake", "patient": "Patient/p1"}]))


def test_schema_file_that_is_not_fhir_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"definitions": {}}')
    with pytest.raises(ValueError, match=r"other.json: not the FHIR JSON schema"):
        R4Schema(other)


@pytest.mark.parametrize("kind", ["phq9", "contact"])
def test_a_clinicians_request_is_a_valid_r4_task_with_the_clinician_as_author(schema: R4Schema,
                                                                             kind: RequestKind) -> None:
    at = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    bundle = request_bundle("req-1", kind, "Patient/p1", "alice", "PHQ-9 item 9 was answered 1", "stat",
                            at + dt.timedelta(days=3), at)
    schema.check(bundle)
    task, trail = (e["resource"] for e in bundle["entry"])
    assert task["code"]["coding"][0]["code"] == kind and task["requester"] == {"display": "alice"}
    assert task["restriction"]["period"]["end"] == "2026-03-05T09:30:00Z"
    assert ("owner" in task) == ("input" in task) == (kind == "phq9"), "only the PHQ-9 is the patient's to do"
    assert trail["agent"][0]["who"] == {"display": "alice"} and trail["target"][0]["reference"] == bundle["entry"][0][
        "fullUrl"]
