"""Terminology: code systems, LOINC codes and the project's own codes, each with where it comes from.

LOINC codes are from FIELD-NOTES.md (checked against the LOINC PHQ-9 form, panel 44249-1). HL7 code systems
are from the FHIR R4 terminology (terminology.hl7.org). Where no standard code exists, the project's own code
systems under `CANONICAL` are used; docs/fhir.md lists them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from mindbridge.summary import Tier

# The project's canonical base for its extensions, code systems and identifier systems. A placeholder until
# the implementation guide is published; only its stability matters to receivers (codes are compared as-is).
CANONICAL = "https://mindbridge.example.org/fhir"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"

# Project code systems (documented in docs/fhir.md).
BIOMARKER_SYSTEM = f"{CANONICAL}/CodeSystem/biomarker"
OBSERVATION_ROLE_SYSTEM = f"{CANONICAL}/CodeSystem/observation-component"
ACTION_SYSTEM = f"{CANONICAL}/CodeSystem/directive-action"
RULE_SYSTEM = f"{CANONICAL}/CodeSystem/pathway-rule"
MODEL_SYSTEM = f"{CANONICAL}/CodeSystem/risk-model"
RESPONSE_SYSTEM = f"{CANONICAL}/CodeSystem/clinician-response"
INTERVAL_EXTENSION = f"{CANONICAL}/StructureDefinition/probability-interval"

# Identifier systems: the business identifiers that make conditional creates idempotent.
IDENTIFIER_SYSTEM = f"{CANONICAL}/identifier"

# SNOMED CT 35489007 "Depressive disorder": the outcome a RiskAssessment predicts.
DEPRESSION = {"system": SNOMED, "code": "35489007", "display": "Depressive disorder"}

# LOINC for biomarkers that have one (FIELD-NOTES "Other LOINC"); every other biomarker uses BIOMARKER_SYSTEM.
BIOMARKER_LOINC: dict[str, tuple[str, str]] = {
    "steps": ("41950-7", "Number of steps in 24 hour Measured"),
    "hr_mean": ("8867-4", "Heart rate"),
    "sleep_total": ("93832-4", "Sleep duration"),
}
# Observation category per biomarker family; anything not listed is "activity".
FAMILY_CATEGORY = {"cardiac": "vital-signs", "surveys": "survey"}

# PHQ-9 item 9 under the names in use (LOINC item code, or the hub's "item9"); answers LL358-3.
ITEM_ALIASES = {"item9": "44260-8"}
LOINC_CODE = re.compile(r"^\d{1,7}-\d$")
SEARCH_RESERVED = re.compile(r"[|,$\\]")
PHQ_ANSWERS = {
    0: ("LA6568-5", "Not at all"),
    1: ("LA6569-3", "Several days"),
    2: ("LA6570-1", "More than half the days"),
    3: ("LA6571-9", "Nearly every day"),
}

Indicator = Literal["info", "warning", "critical"]

# Urgency tier -> Task/CommunicationRequest priority (request-priority: routine < urgent < asap < stat),
# DetectedIssue severity (high | moderate | low) and CDS Hooks card indicator.
TIER_PRIORITY: dict[Tier, str] = {"critical": "stat", "urgent": "urgent", "routine": "routine", "info": "routine"}
TIER_SEVERITY: dict[Tier, str] = {"critical": "high", "urgent": "moderate", "routine": "low", "info": "low"}
TIER_INDICATOR: dict[Tier, Indicator] = {"critical": "critical", "urgent": "warning", "routine": "info", "info": "info"}
# Tiers that also raise a chart Flag (alert fatigue: routine work stays in the work queue only).
FLAGGED_TIERS: frozenset[Tier] = frozenset({"critical", "urgent"})
# Actions whose work is contacting the patient: they also get a CommunicationRequest.
PATIENT_CONTACT_ACTIONS = frozenset({"contact_patient", "check_device", "safety_assessment"})
# Actions that concern the patient's safety: their Flag is category "safety", others "behavioral".
SAFETY_ACTIONS = frozenset({"safety_assessment"})


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A FHIR Coding, without `display` when none is given."""
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept holding one coding and, optionally, text."""
    out: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def identifier(kind: str, value: str) -> dict[str, str]:
    """The business identifier of a resource of `kind` (e.g. "task") with `value`, which must be usable
    verbatim in a token search (no "|", "," or "$", which search syntax reserves, nor a backslash)."""
    if not value or SEARCH_RESERVED.search(value):
        raise ValueError(f"identifier {kind}: value {value!r} is empty or holds a search-reserved character (|,$\\)")
    return {"system": f"{IDENTIFIER_SYSTEM}/{kind}", "value": value}


def item_code(key: str) -> tuple[str, str]:
    """(system, code) for a flagged survey item keyed by its LOINC code or an alias such as "item9"."""
    code = ITEM_ALIASES.get(key, key)
    if LOINC_CODE.match(code):
        return LOINC, code
    return f"{CANONICAL}/CodeSystem/survey-item", key
