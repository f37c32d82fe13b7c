"""Observations: one per biomarker deviation, one per survey total and one per flagged survey item."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mindbridge.fhir import codes
from mindbridge.fhir.wire import Resource, finish, quantity, reference
from mindbridge.summary import Deviation, SurveyScore


def deviation_code(deviation: Deviation) -> dict[str, Any]:
    """The Observation code of a biomarker: LOINC where one exists, else the project's biomarker system."""
    text = f"{deviation.biomarker} ({deviation.family})"
    if deviation.biomarker in codes.BIOMARKER_LOINC:
        code, display = codes.BIOMARKER_LOINC[deviation.biomarker]
        return codes.concept(codes.LOINC, code, display, text)
    return codes.concept(codes.BIOMARKER_SYSTEM, deviation.biomarker, text=text)


def deviation_observation(
    deviation: Deviation, ident: dict[str, str], patient: str, window: tuple[dt.date, dt.date]
) -> Resource:
    """A biomarker's value over the window, with its personal baseline, robust z, days and, when its CUSUM
    signalled a sustained shift, the shift's onset as components."""
    field = f"deviation {deviation.biomarker}"
    category = codes.FAMILY_CATEGORY.get(deviation.family, "activity")

    def component(role: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"code": codes.concept(codes.OBSERVATION_ROLE_SYSTEM, role), "valueQuantity": value}

    return finish({
        "resourceType": "Observation",
        "identifier": [ident],
        "status": "final",
        "category": [codes.concept(codes.OBSERVATION_CATEGORY, category)],
        "code": deviation_code(deviation),
        "subject": reference(patient),
        "effectivePeriod": {"start": window[0].isoformat(), "end": window[1].isoformat()},
        "valueQuantity": quantity(deviation.value, deviation.unit, f"{field}.value"),
        "note": [{"text": deviation.text}],
        "component": [
            component("baseline", quantity(deviation.baseline, deviation.unit, f"{field}.baseline")),
            component("robust-z", quantity(deviation.robust_z, "1", f"{field}.robust_z")),
            component("days", {"value": deviation.days, "unit": "d", "system": codes.UCUM, "code": "d"}),
            *([{"code": codes.concept(codes.OBSERVATION_ROLE_SYSTEM, "sustained-since"),
                "valueDateTime": deviation.sustained_since.isoformat()}] if deviation.sustained_since else []),
        ],
    })


def survey_observation(survey: SurveyScore, ident: dict[str, str], patient: str) -> Resource:
    """The total score of one questionnaire administration (e.g. PHQ-9 total, LOINC 44261-6), with its band."""
    resource: Resource = {
        "resourceType": "Observation",
        "identifier": [ident],
        "status": "final",
        "category": [codes.concept(codes.OBSERVATION_CATEGORY, "survey")],
        "code": codes.concept(codes.LOINC, survey.loinc, text=f"{survey.instrument} total score"),
        "subject": reference(patient),
        "effectiveDateTime": survey.date.isoformat(),
        "valueQuantity": quantity(survey.total, "{score}", f"survey {survey.instrument}.total"),
    }
    if survey.band:
        resource["interpretation"] = [{"text": survey.band}]
    return finish(resource)


def item_observation(survey: SurveyScore, item: str, answer: int, ident: dict[str, str], patient: str) -> Resource:
    """A flagged item's answer (e.g. PHQ-9 item 9, LOINC 44260-8) as its LOINC answer (LL358-3) when 0-3."""
    system, code = codes.item_code(item)
    resource: Resource = {
        "resourceType": "Observation",
        "identifier": [ident],
        "status": "final",
        "category": [codes.concept(codes.OBSERVATION_CATEGORY, "survey")],
        "code": codes.concept(system, code, text=f"{survey.instrument} {item}"),
        "subject": reference(patient),
        "effectiveDateTime": survey.date.isoformat(),
    }
    if answer in codes.PHQ_ANSWERS:
        answer_code, display = codes.PHQ_ANSWERS[answer]
        resource["valueCodeableConcept"] = codes.concept(codes.LOINC, answer_code, display, text=str(answer))
    else:
        resource["valueInteger"] = answer
    return finish(resource)
