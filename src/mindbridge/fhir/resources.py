"""One function per resource: RiskAssessment, DetectedIssue, Task, CommunicationRequest, Flag, Device, Consent.

References are passed in as strings: "Patient/<id>" for the patient already in the EHR, and bundle-local
"urn:uuid:..." for resources created in the same transaction (see `bundle.py`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from mindbridge.fhir import codes
from mindbridge.fhir.wire import Resource, decimal, finish, instant, reference
from mindbridge.summary import Directive, Interval, RiskBand


def probability_percent(probability: float, field: str = "probability") -> float:
    """A probability in [0, 1] as the percentage R4 asks for (RiskAssessment invariant ras-2: at most 100)."""
    value = decimal(probability, field)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{field}: {value} is not a probability in [0, 1]")
    return round(100.0 * value, 4)


def interval_extension(interval: Interval) -> dict[str, Any]:
    """The project extension holding the probability's interval (percent), its level and how it was made."""

    def percent(value: float) -> dict[str, Any]:
        return {"value": probability_percent(value, "interval"), "unit": "%", "system": codes.UCUM, "code": "%"}

    return {
        "url": codes.INTERVAL_EXTENSION,
        "extension": [
            {"url": "range", "valueRange": {"low": percent(interval.lower), "high": percent(interval.upper)}},
            {"url": "level", "valueDecimal": decimal(interval.level, "interval.level")},
            {"url": "method", "valueCode": interval.method},
        ],
    }


def risk_assessment(
    *,
    ident: dict[str, str],
    patient: str,
    probability: float,
    interval: Interval | None,
    band: RiskBand | None,
    window: tuple[dt.date, dt.date],
    when: dt.datetime,
    model_ref: str,
    model_id: str,
    model_version: str,
    basis: list[str],
) -> Resource:
    """The depression-risk prediction: percent probability, qualitative band, interval extension, basis."""
    prediction: dict[str, Any] = {
        "outcome": {"coding": [codes.DEPRESSION]},
        "probabilityDecimal": probability_percent(probability),
        "whenPeriod": {"start": window[0].isoformat(), "end": window[1].isoformat()},
    }
    if band is not None:
        prediction["qualitativeRisk"] = codes.concept(codes.RISK_PROBABILITY, band)
    if interval is not None:
        prediction["extension"] = [interval_extension(interval)]
    resource: Resource = {
        "resourceType": "RiskAssessment",
        "identifier": [ident],
        "status": "final",
        "method": codes.concept(codes.MODEL_SYSTEM, model_id, text=f"{model_id} {model_version}"),
        "code": {"coding": [codes.DEPRESSION], "text": "Depression risk from digital biomarkers"},
        "subject": reference(patient),
        "occurrenceDateTime": instant(when, "RiskAssessment.occurrence"),
        "performer": reference(model_ref, f"{model_id} {model_version}"),
        "prediction": [prediction],
    }
    if basis:
        resource["basis"] = [reference(ref) for ref in basis]
    return finish(resource)


def detected_issue(
    directive: Directive, ident: dict[str, str], patient: str, author: str, implicated: list[str],
    evidence: list[str],
) -> Resource:
    """The issue a pathway rule found: severity from the tier, the rationale, implicated resources, evidence."""
    resource: Resource = {
        "resourceType": "DetectedIssue",
        "identifier": [ident],
        "status": "final",
        "code": codes.concept(codes.RULE_SYSTEM, directive.rule_id, text=f"{directive.pathway_id} {directive.rule_id}"),
        "severity": codes.TIER_SEVERITY[directive.tier],
        "patient": reference(patient),
        "identifiedDateTime": instant(directive.created_at, "directive.created_at"),
        "author": reference(author),
        "detail": directive.rationale,
    }
    if implicated:
        resource["implicated"] = [reference(ref) for ref in implicated]
    if evidence:
        resource["evidence"] = [{"detail": [reference(ref) for ref in evidence]}]
    return finish(resource)


def mitigation(outcome: Literal["accepted", "overridden"], reason: str, when: dt.datetime,
               author: str | None = None) -> dict[str, Any]:
    """A DetectedIssue.mitigation entry recording the clinician's response (accepted or overridden, and why)."""
    entry: dict[str, Any] = {
        "action": codes.concept(codes.RESPONSE_SYSTEM, outcome, text=reason or outcome),
        "date": instant(when, "mitigation.date"),
    }
    if author:
        entry["author"] = reference(author)
    return entry


def _intent(directive: Directive) -> str:
    # Suggestions (e.g. a medication review) are proposals for a clinician; protocol work is an order.
    return "proposal" if directive.suggestion_only else "order"


def task(directive: Directive, ident: dict[str, str], patient: str, requester: str | None = None,
         focus: str | None = None, reason: str | None = None) -> Resource:
    """The work item: priority from the tier, due time as restriction.period.end, focus and reason if known."""
    resource: Resource = {
        "resourceType": "Task",
        "identifier": [ident],
        "status": "requested",
        "intent": _intent(directive),
        "priority": codes.TIER_PRIORITY[directive.tier],
        "code": codes.concept(codes.ACTION_SYSTEM, directive.action, text=directive.action_text),
        "description": directive.action_text,
        "for": reference(patient),
        "authoredOn": instant(directive.created_at, "directive.created_at"),
        "reasonCode": {"text": directive.rationale},
        "restriction": {"period": {"end": instant(directive.due, "directive.due")}},
    }
    links = {"requester": requester, "focus": focus, "reasonReference": reason}
    resource |= {field: reference(ref) for field, ref in links.items() if ref is not None}
    return finish(resource)


def communication_request(directive: Directive, ident: dict[str, str], patient: str, requester: str,
                          reason: str) -> Resource:
    """A request to contact the patient by the due time, for patient-contact actions (R4 has no intent here)."""
    return finish({
        "resourceType": "CommunicationRequest",
        "identifier": [ident],
        "status": "active",
        "priority": codes.TIER_PRIORITY[directive.tier],
        "subject": reference(patient),
        "recipient": [reference(patient)],
        "payload": [{"contentString": directive.action_text}],
        "occurrencePeriod": {"start": instant(directive.created_at, "directive.created_at"),
                             "end": instant(directive.due, "directive.due")},
        "authoredOn": instant(directive.created_at, "directive.created_at"),
        "requester": reference(requester),
        "reasonCode": [{"text": directive.rationale}],
        "reasonReference": [reference(reason)],
    })


def flag(directive: Directive, ident: dict[str, str], patient: str, author: str) -> Resource:
    """A chart flag, category safety for safety actions and behavioral otherwise, active until the due time."""
    category = "safety" if directive.action in codes.SAFETY_ACTIONS else "behavioral"
    return finish({
        "resourceType": "Flag",
        "identifier": [ident],
        "status": "active",
        "category": [codes.concept(codes.FLAG_CATEGORY, category)],
        "code": codes.concept(codes.ACTION_SYSTEM, directive.action, text=directive.action_text),
        "subject": reference(patient),
        "period": {"start": instant(directive.created_at, "directive.created_at"),
                   "end": instant(directive.due, "directive.due")},
        "author": reference(author),
    })


def device(ident: dict[str, str], name: str, version: str, kind: str) -> Resource:
    """A software Device: the risk model (performer of the assessment) or the hub (author of directives)."""
    resource: Resource = {
        "resourceType": "Device",
        "identifier": [ident],
        "status": "active",
        "deviceName": [{"name": name, "type": "model-name"}],
        "type": {"text": kind},
    }
    if version:
        resource["version"] = [{"value": version}]
    return finish(resource)


def consent(resource: dict[str, Any]) -> Resource:
    """A Consent built elsewhere, checked for R4 shape (scope, identifier, policy) and passed through."""
    if resource.get("resourceType") != "Consent":
        raise ValueError(f"Consent.resourceType: expected 'Consent', got {resource.get('resourceType')!r}")
    for field in ("scope", "identifier", "patient"):
        if not resource.get(field):
            raise ValueError(f"Consent.{field}: missing (R4 Consent needs it; an identifier makes pushes idempotent)")
    if not (resource.get("policy") or resource.get("policyRule")):
        raise ValueError("Consent.policy: policy or policyRule is required (R4 invariant ppc-1)")
    if "decision" in resource:
        raise ValueError("Consent.decision: an R5 element; R4 puts the decision in provision.type")
    return finish(resource)
