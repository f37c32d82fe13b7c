"""CDS Hooks 2.0.1 models (from the spec's examples) and the card built from a directive."""

from __future__ import annotations

import datetime as dt

import pytest
from fhir_builders import FhirServer, directive, directives
from hypothesis import given, settings
from pydantic import ValidationError

from mindbridge.fhir import codes
from mindbridge.fhir.cards import SUMMARY_LIMIT, card_from_directive
from mindbridge.fhir.cdshooks import Card, Discovery, FeedbackRequest, HookRequest, HookResponse, Service, Source
from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.validate import R4Schema
from mindbridge.summary import Directive

HUB = "https://hub.clinic.example/"


def test_discovery_serialises_with_wire_names() -> None:
    service = Service(hook="patient-view", id="mindbridge-directives", title="mindbridge",
                      description="Open directives for this patient",
                      prefetch={"patient": "Patient/{{context.patientId}}"})
    wire = Discovery(services=[service]).wire()
    assert wire == {"services": [{"hook": "patient-view", "id": "mindbridge-directives", "title": "mindbridge",
                                  "description": "Open directives for this patient",
                                  "prefetch": {"patient": "Patient/{{context.patientId}}"}}]}


def test_hook_request_as_an_ehr_sends_it() -> None:
    request = HookRequest.model_validate({
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "https://ehr.example/r4",
        "hook": "patient-view",
        "fhirAuthorization": {"access_token": "some-opaque-fhir-access-token", "token_type": "Bearer",
                              "expires_in": 300, "scope": "user/Patient.r user/Observation.rs",
                              "subject": "cds-service4"},
        "context": {"userId": "Practitioner/example", "patientId": "1288992", "encounterId": "89284"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "1288992"}},
        "vendorField": "ignored",
    })
    assert request.context["patientId"] == "1288992" and request.fhirAuthorization is not None
    with pytest.raises(ValidationError, match="fhirAuthorization given without fhirServer"):
        HookRequest.model_validate({"hook": "patient-view", "hookInstance": "x", "context": {},
                                    "fhirAuthorization": request.fhirAuthorization.model_dump()})


def test_feedback_accepted_and_overridden() -> None:
    feedback = FeedbackRequest.model_validate({"feedback": [
        {"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "accepted",
         "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
         "outcomeTimestamp": "2026-03-02T14:00:00Z"},
        {"card": "9368d37b-283f-44a0-93ea-547cebab93ee", "outcome": "overridden",
         "overrideReason": {"reason": {"code": "already-addressed", "system": "https://x", "display": "Done"},
                            "userComment": "Seen this morning"},
         "outcomeTimestamp": "2026-03-02T14:01:00Z"},
    ]})
    assert [f.outcome for f in feedback.feedback] == ["accepted", "overridden"]
    assert feedback.feedback[1].overrideReason is not None
    with pytest.raises(ValidationError, match="outcome"):
        FeedbackRequest.model_validate({"feedback": [{"card": "c", "outcome": "ignored",
                                                      "outcomeTimestamp": "2026-03-02T14:00:00Z"}]})


def test_card_rules_from_the_spec() -> None:
    source = Source(label="x")
    with pytest.raises(ValidationError, match="at most 139"):
        Card(summary="x" * 140, indicator="info", source=source)
    with pytest.raises(ValidationError, match="indicator"):
        Card(summary="x", indicator="hard-stop", source=source)  # type: ignore[arg-type]
    card = card_from_directive(directive(), "Patient/p1", HUB)
    with pytest.raises(ValidationError, match="selectionBehavior is required"):
        Card.model_validate(card.model_dump() | {"selectionBehavior": None})
    with pytest.raises(ValidationError, match="resource is required"):
        Card.model_validate(card.model_dump() | {"suggestions": [{"label": "x", "actions": [
            {"type": "create", "description": "d"}]}]})


def test_card_from_a_critical_directive(schema: R4Schema) -> None:
    made = directive()
    card = card_from_directive(made, "Patient/p1", HUB)
    wire = HookResponse(cards=[card]).wire()["cards"][0]
    assert wire["indicator"] == "critical"
    assert wire["summary"].startswith("Same-day suicide-risk assessment (due 2026-03-02 17:30 UTC)")
    assert "PHQ-9 14 on 2026-03-01 (moderate); flagged: item9 = 1" in wire["detail"]
    assert "Depression risk 42 % (90% interval 32 %–52 %, conformal)" in wire["detail"]
    assert wire["selectionBehavior"] == "at-most-one" and all(r["display"] for r in wire["overrideReasons"])
    assert wire["links"] == [{"label": "Open in mindbridge", "url": f"{HUB.rstrip('/')}/directives/dir-0001",
                              "type": "absolute"}]
    (action,) = wire["suggestions"][0]["actions"]
    task = action["resource"]
    assert action["type"] == "create" and task["resourceType"] == "Task" and task["priority"] == "stat"
    assert task["identifier"] == [codes.identifier("task", "dir-0001")]  # same as the pushed Task
    schema.check(task)
    assert card.uuid == card_from_directive(made, "Patient/p1", HUB).uuid  # stable for feedback


@settings(max_examples=30, deadline=None)
@given(directives())
def test_every_directive_makes_a_valid_card(made: Directive) -> None:
    long = made.model_copy(update={"action_text": "Review " + "x" * 190})
    for one in (made, long):
        card = card_from_directive(one, "Patient/p1", HUB)
        assert len(card.summary) <= SUMMARY_LIMIT
        assert card.indicator == codes.TIER_INDICATOR[one.tier]
        assert card.suggestions and card.suggestions[0].isRecommended is not one.suggestion_only


def test_the_suggested_task_is_accepted_by_the_fhir_server(ehr: EhrClient, patient: str,
                                                           fhir_server: FhirServer) -> None:
    card = card_from_directive(directive(id="card-1", due=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC)), patient, HUB)
    assert card.suggestions and card.suggestions[0].actions
    task = card.suggestions[0].actions[0].resource
    reply = ehr.http.post(f"{ehr.base}/Task", json=task)  # what the EHR does when the clinician accepts
    assert reply.status_code == 201, reply.text
    assert reply.json()["restriction"]["period"]["end"] == "2026-03-03T09:00:00Z"
