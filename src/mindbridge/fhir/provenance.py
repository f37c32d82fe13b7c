"""Who made what from what: Provenance for a directive's resources, AuditEvent (IHE BALP shape) for audit entries.

An audit entry arrives as a plain dict from the hub's hash-chained log; `AuditEntry` names the fields read
from it (extra fields are ignored) so a malformed entry fails with the field's name.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mindbridge.fhir import codes
from mindbridge.fhir.wire import Resource, finish, instant, reference
from mindbridge.summary import Directive

LITERAL_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$|^urn:uuid:[0-9a-f-]{36}$")


def provenance(directive: Directive, targets: list[str], hub: str, model: str | None) -> Resource:
    """Provenance of a directive's resources: hub as author and assembler, model as performer, and sources."""

    def agent(role: str, who: str) -> dict[str, Any]:
        return {"type": codes.concept(codes.PROVENANCE_AGENT_TYPE, role), "who": reference(who)}

    agents = [agent("author", hub), agent("assembler", hub)]
    entities: list[dict[str, Any]] = [{
        "role": "source",
        "what": {"identifier": codes.identifier("pathway", f"{directive.pathway_id}:{directive.pathway_version}"),
                 "display": f"pathway {directive.pathway_id} {directive.pathway_version} rule {directive.rule_id}"},
    }]
    if model is not None:
        agents.append(agent("performer", model))
        entities.append({"role": "source", "what": reference(model, f"{directive.model_id} {directive.model_version}")})
    entities += [{"role": "source", "what": {"identifier": codes.identifier("envelope", envelope)}}
                 for envelope in directive.evidence.envelope_ids]
    return finish({
        "resourceType": "Provenance",
        "target": [reference(ref) for ref in targets],
        "occurredDateTime": instant(directive.created_at, "directive.created_at"),
        "recorded": instant(directive.created_at, "directive.created_at"),
        "activity": codes.concept(codes.DATA_OPERATION, "CREATE"),
        "agent": agents,
        "entity": entities,
    })


AuditAction = Literal["intake", "read", "search", "create", "update", "delete", "export"]
# action -> (AuditEvent.type, subtype, action C|R|U|D|E). REST interactions are audit-event-type "rest" with a
# restful-interaction subtype (IHE BALP); intake and export are the DICOM Import and Export events.
_REST = codes.coding(codes.AUDIT_EVENT_TYPE, "rest", "Restful Operation")
_ACTIONS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, str]] = {
    "intake": (codes.coding(codes.DICOM, "110107", "Import"), None, "C"),
    "export": (codes.coding(codes.DICOM, "110106", "Export"), None, "R"),
    "read": (_REST, codes.coding(codes.RESTFUL_INTERACTION, "read"), "R"),
    "search": (_REST, codes.coding(codes.RESTFUL_INTERACTION, "search-type"), "E"),
    "create": (_REST, codes.coding(codes.RESTFUL_INTERACTION, "create"), "C"),
    "update": (_REST, codes.coding(codes.RESTFUL_INTERACTION, "update"), "U"),
    "delete": (_REST, codes.coding(codes.RESTFUL_INTERACTION, "delete"), "D"),
}


class AuditEntry(BaseModel):
    """The fields of a hub audit-log entry that an AuditEvent carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: int = Field(ge=0)
    hash: str = Field(min_length=1)
    at: dt.datetime
    actor: str = Field(min_length=1)
    action: AuditAction
    outcome: Literal["success", "failure"] = "success"
    patient: str | None = None
    resource: str | None = None


def _who(actor: str) -> dict[str, Any]:
    if LITERAL_REFERENCE.match(actor):
        return reference(actor)
    return {"identifier": codes.identifier("actor", actor), "display": actor}


def audit_event(entry: dict[str, Any], hub: str) -> Resource:
    """An AuditEvent in the IHE BALP shape from a plain audit-entry dict; the chain hash rides in entity.detail."""
    parsed = AuditEntry.model_validate(entry)
    event_type, subtype, action = _ACTIONS[parsed.action]
    event: Resource = {
        "resourceType": "AuditEvent",
        "type": event_type,
        "action": action,
        "recorded": instant(parsed.at, "audit entry at"),
        "outcome": "0" if parsed.outcome == "success" else "8",
        "agent": [
            {"type": codes.concept(codes.DICOM, "110153", "Source Role ID"), "who": _who(parsed.actor),
             "requestor": True},
            {"type": codes.concept(codes.DICOM, "110152", "Destination Role ID"), "who": reference(hub),
             "requestor": False},
        ],
        "source": {"observer": reference(hub),
                   "type": [codes.coding(codes.SECURITY_SOURCE_TYPE, "4", "Application Server")]},
        "entity": [{
            "what": {"identifier": codes.identifier("audit-entry", str(parsed.seq))},
            "type": codes.coding(codes.AUDIT_ENTITY_TYPE, "2", "System Object"),
            "detail": [{"type": "hash", "valueString": parsed.hash}],
        }],
    }
    if subtype is not None:
        event["subtype"] = [subtype]
    if parsed.patient:
        event["entity"].append({"what": _who(parsed.patient),
                                "type": codes.coding(codes.AUDIT_ENTITY_TYPE, "1", "Person"),
                                "role": codes.coding(codes.OBJECT_ROLE, "1", "Patient")})
    if parsed.resource:
        event["entity"].append({"what": _who(parsed.resource),
                                "type": codes.coding(codes.AUDIT_ENTITY_TYPE, "2", "System Object"),
                                "role": codes.coding(codes.OBJECT_ROLE, "4", "Domain Resource")})
    return finish(event)
