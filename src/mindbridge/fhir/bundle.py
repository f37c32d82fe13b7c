"""Transaction bundles that can be pushed any number of times and create each resource once.

Every resource with a business identifier is a conditional create: `POST <Type>` with
`ifNoneExist: identifier=<system>|<value>`. Its `fullUrl` is `urn:uuid:<uuid5(system|value)>`, so the same
resource has the same placeholder in every push, and the resources of one bundle refer to each other by
those placeholders. The server resolves each placeholder to the created (or already existing) resource
and rewrites the references. Medplum 4.5.2 does this only for placeholders in the canonical lowercase
8-4-4-4-12 UUID form (anything else, e.g. `urn:uuid:obs-1`, is left dangling), which is the only form
built here. Resources without an identifier element in R4 (Provenance, AuditEvent) are `PUT` to a
client-assigned id derived the same way: a retried push makes a new version, never a second resource.
The patient is always a literal `Patient/<id>` already in the EHR.

Entries are in dependency order (each refers only to earlier ones), because Medplum refuses a transaction
with conditional creates and more than 8 entries ("requires strict isolation"): `EhrClient.push` then sends
the bundle as consecutive transactions and resolves earlier placeholders to the locations they returned.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from mindbridge.fhir import codes
from mindbridge.fhir.observations import deviation_observation, item_observation, survey_observation
from mindbridge.fhir.provenance import audit_event, provenance
from mindbridge.fhir.resources import (
    communication_request,
    detected_issue,
    device,
    flag,
    risk_assessment,
    task,
)
from mindbridge.fhir.wire import Resource
from mindbridge.summary import Directive, Evidence, RiskBand, RiskSummary

# Fixed namespace for the project's name-based UUIDs (RFC 9562 version 5); changing it would break idempotence.
NAMESPACE = uuid.UUID("5b1f0c1e-6a57-4c1a-9d0e-2f3b8f1d7a42")
HUB = codes.identifier("device", "mindbridge-hub")


def stable_uuid(*parts: str) -> str:
    """A name-based UUID of `parts`: the same parts give the same UUID on every machine and every push."""
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def local_ref(ident: dict[str, str]) -> str:
    """The bundle-local placeholder of the resource with business identifier `ident`."""
    return f"urn:uuid:{stable_uuid(ident['system'], ident['value'])}"


def create_entry(resource: Resource) -> dict[str, Any]:
    """A conditional-create entry on the resource's first identifier."""
    ident = resource["identifier"][0]
    query = urlencode({"identifier": f"{ident['system']}|{ident['value']}"}, safe=":/|")
    return {
        "fullUrl": local_ref(ident),
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": query},
    }


def put_entry(resource: Resource, *key: str) -> dict[str, Any]:
    """An update-as-create entry at a client-assigned id derived from `key`, for resources without identifier."""
    rid = stable_uuid(resource["resourceType"], *key)
    return {
        "resource": {**resource, "id": rid},
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{rid}"},
    }


def _placeholders(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item.startswith("urn:uuid:"):
                yield item
            else:
                yield from _placeholders(item)
    elif isinstance(value, list):
        for item in value:
            yield from _placeholders(item)


def transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle of `entries`, each referring only to placeholders declared by an earlier entry
    (so the bundle can be split in order when a server limits its size, see `EhrClient.push`)."""
    declared: set[str] = set()
    for index, entry in enumerate(entries):
        for ref in _placeholders(entry["resource"]):
            if ref not in declared:
                kind = entry["resource"]["resourceType"]
                raise ValueError(f"Bundle.entry[{index}] ({kind}): reference {ref} has no earlier entry in the bundle")
        if "fullUrl" in entry:
            declared.add(entry["fullUrl"])
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _observations(evidence: Evidence, patient: str) -> list[Resource]:
    window = (evidence.window_start, evidence.window_end)
    span = (window[0].isoformat(), window[1].isoformat())
    out = [
        deviation_observation(d, codes.identifier("observation", stable_uuid(patient, d.biomarker, *span)), patient,
                              window)
        for d in evidence.deviations
    ]
    for survey in evidence.surveys:
        day = survey.date.isoformat()
        out.append(survey_observation(survey, codes.identifier("observation", stable_uuid(patient, survey.loinc, day)),
                                      patient))
        out += [
            item_observation(survey, item, answer,
                             codes.identifier("observation", stable_uuid(patient, survey.loinc, item, day)), patient)
            for item, answer in sorted(survey.flagged_items.items())
        ]
    return out


def _assessment(
    evidence: Evidence, patient: str, key: tuple[str, str], model: tuple[str, str], when: dt.datetime,
    band: RiskBand | None,
) -> tuple[list[Resource], list[str], str | None]:
    """The model Device, Observations and RiskAssessment of `evidence`; the Observations' refs; the risk's ref."""
    observations = _observations(evidence, patient)
    basis = [local_ref(o["identifier"][0]) for o in observations]
    if evidence.probability is None or not model[0]:
        return observations, basis, None
    model_device = device(codes.identifier("model", f"{model[0]}:{model[1]}"), model[0], model[1], "risk model")
    risk = risk_assessment(
        ident=codes.identifier(*key), patient=patient, probability=evidence.probability,
        interval=evidence.interval, band=band, window=(evidence.window_start, evidence.window_end), when=when,
        model_ref=local_ref(model_device["identifier"][0]), model_id=model[0], model_version=model[1], basis=basis,
    )
    return [model_device, *observations, risk], basis, local_ref(risk["identifier"][0])


def summary_bundle(summary: RiskSummary, envelope_id: str, patient: str) -> dict[str, Any]:
    """A device's RiskSummary as RiskAssessment + Observations, keyed by the envelope id that carried it."""
    evidence = Evidence(
        envelope_ids=[envelope_id], window_start=summary.window_start, window_end=summary.window_end,
        probability=summary.probability, interval=summary.interval, deviations=summary.deviations,
        surveys=summary.surveys,
    )
    resources, _, _ = _assessment(evidence, patient, ("risk-assessment", envelope_id),
                               (summary.model_id, summary.model_version), summary.created_at, summary.risk_band)
    return transaction([create_entry(r) for r in resources])


def hub_device() -> Resource:
    """The hub as the Device that authors bundles and records audit events."""
    return device(HUB, "mindbridge-hub", "", "clinical decision support hub")


# A directive's resources in the EHR: (resource type, identifier name, status while in force, status once it
# is withdrawn, i.e. superseded by later data after its push). Observations and Provenance stay as they are:
# they record what was received.
STATUSES: tuple[tuple[str, str, str, str], ...] = (
    ("RiskAssessment", "risk-assessment", "final", "cancelled"),
    ("DetectedIssue", "detected-issue", "final", "cancelled"),
    ("CommunicationRequest", "communication-request", "active", "revoked"),
    ("Task", "task", "requested", "cancelled"),
    ("Flag", "flag", "active", "inactive"))


def directive_bundle(directive: Directive, patient: str, band: RiskBand | None = None) -> dict[str, Any]:
    """Everything a directive maps to: RiskAssessment, Observations, DetectedIssue, Task, optional
    CommunicationRequest and Flag, the hub and model Devices, and the Provenance of them all."""
    hub = hub_device()
    hub_ref = local_ref(HUB)
    assessed, basis, risk_ref = _assessment(
        directive.evidence, patient, ("risk-assessment", directive.id),
        (directive.model_id, directive.model_version), directive.created_at, band,
    )
    implicated = [] if risk_ref is None else [risk_ref]
    issue = detected_issue(directive, codes.identifier("detected-issue", directive.id), patient, hub_ref,
                           implicated=implicated, evidence=implicated + basis)
    issue_ref = local_ref(issue["identifier"][0])
    work: list[Resource] = [issue]
    focus = issue_ref
    if directive.action in codes.PATIENT_CONTACT_ACTIONS:
        contact = communication_request(directive, codes.identifier("communication-request", directive.id),
                                        patient, hub_ref, issue_ref)
        focus = local_ref(contact["identifier"][0])
        work.append(contact)
    work.append(task(directive, codes.identifier("task", directive.id), patient, hub_ref, focus, issue_ref))
    if directive.tier in codes.FLAGGED_TIERS:
        work.append(flag(directive, codes.identifier("flag", directive.id), patient, hub_ref))
    created = [hub, *assessed, *work]
    clinical = [local_ref(r["identifier"][0]) for r in created if r["resourceType"] != "Device"]
    model_ref = next((local_ref(r["identifier"][0]) for r in assessed if r["resourceType"] == "Device"), None)
    trail = provenance(directive, clinical, hub_ref, model_ref)
    return transaction([*(create_entry(r) for r in created), put_entry(trail, directive.id)])


def audit_bundle(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Audit-log entries as AuditEvents (PUT at ids derived from their sequence and hash), with the hub Device."""
    hub = hub_device()
    events = [audit_event(entry, local_ref(HUB)) for entry in entries]
    puts = [put_entry(e, e["entity"][0]["what"]["identifier"]["value"], e["entity"][0]["detail"][0]["valueString"])
            for e in events]
    return transaction([create_entry(hub), *puts])
