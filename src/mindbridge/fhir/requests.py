"""What a clinician asks for from the inbox, as FHIR R4: a Task asking the patient to complete the PHQ-9
(its Questionnaire named by canonical URL in `Task.input`, owned by the patient) or a Task to schedule a
contact with the patient, each with a Provenance naming the clinician as author. Unlike directives these
are a person's decisions, never the pathway's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from mindbridge.fhir import codes
from mindbridge.fhir.bundle import create_entry, local_ref, put_entry, transaction
from mindbridge.fhir.wire import Resource, finish, instant, reference

__all__ = ["KINDS", "RequestKind", "request_bundle"]
RequestKind = Literal["phq9", "contact"]
PHQ9_QUESTIONNAIRE = "http://loinc.org/q/44249-1"
REQUEST_SYSTEM = f"{codes.CANONICAL}/CodeSystem/clinician-request"


@dataclass(frozen=True)
class Kind:
    """A kind of request: its words, whether the patient performs it, the questionnaire it asks for, and how
    long after the request it is due at the latest (a contact is due by its queue item's due time if sooner)."""

    text: str
    patient_owns: bool
    within: dt.timedelta
    questionnaire: str | None = None


KINDS: dict[str, Kind] = {
    "phq9": Kind("Complete the PHQ-9 questionnaire", True, dt.timedelta(days=3), PHQ9_QUESTIONNAIRE),
    "contact": Kind("Schedule a contact with the patient", False, dt.timedelta(days=7)),
}


def request_bundle(request_id: str, kind: RequestKind, patient: str, clinician: str, reason: str,
                   priority: str, due: dt.datetime, at: dt.datetime) -> dict[str, Any]:
    """The transaction bundle of one clinician's request: its Task and the Provenance naming the clinician."""
    what = KINDS[kind]
    ident = codes.identifier("clinician-request", request_id)
    resource: Resource = {
        "resourceType": "Task",
        "identifier": [ident],
        "status": "requested",
        "intent": "order",
        "priority": priority,
        "code": codes.concept(REQUEST_SYSTEM, kind, text=what.text),
        "description": what.text,
        "for": reference(patient),
        "authoredOn": instant(at, "request.at"),
        "requester": {"display": clinician},
        "reasonCode": {"text": reason},
        "restriction": {"period": {"end": instant(due, "request.due")}},
    }
    if what.patient_owns:
        resource["owner"] = reference(patient)
    if what.questionnaire is not None:
        resource["input"] = [{"type": {"text": "questionnaire"}, "valueCanonical": what.questionnaire}]
    trail = finish({
        "resourceType": "Provenance",
        "target": [reference(local_ref(ident))],
        "recorded": instant(at, "request.at"),
        "activity": codes.concept(codes.DATA_OPERATION, "CREATE"),
        "agent": [{"type": codes.concept(codes.PROVENANCE_AGENT_TYPE, "author"), "who": {"display": clinician}}],
    })
    return transaction([create_entry(finish(resource)), put_entry(trail, "clinician-request", request_id)])
