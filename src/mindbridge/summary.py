"""The types that cross the device/clinic boundary. Both sides import this module; it imports neither.

A `RiskSummary` is all that leaves a patient's device: a risk distribution with its provenance, the
biomarker deviations that drove it, data coverage and scored surveys. It has no field that can carry a
raw series: lists are short and bounded, and every model forbids unknown fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Literal["1"] = "1"
MAX_DEVIATIONS = 12
MAX_SURVEYS = 8

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


RiskBand = Literal["low", "moderate", "high"]


class Interval(_Strict):
    """A credible or conformal interval on the probability."""

    lower: Probability
    upper: Probability
    level: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.9
    method: Literal["conformal", "bootstrap", "beta"] = "conformal"

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.lower > self.upper:
            raise ValueError("interval lower bound exceeds upper bound")
        return self


class Deviation(_Strict):
    """One biomarker's departure from the patient's own baseline, in words a clinician reads."""

    biomarker: Annotated[str, Field(max_length=64)]
    family: Annotated[str, Field(max_length=32)]
    unit: Annotated[str, Field(max_length=16)]
    value: float
    baseline: float
    robust_z: float
    days: Annotated[int, Field(ge=1, le=366)] = 1
    text: ShortText
    # onset of a shift the patient's CUSUM signalled; left out of the JSON when absent, so hubs that predate
    # the field (which forbid unknown fields) still accept the summary
    sustained_since: dt.date | None = Field(default=None, exclude_if=lambda value: value is None)


class SurveyScore(_Strict):
    """A scored questionnaire: instrument (LOINC panel), total, and flagged items (e.g. PHQ-9 item 9)."""

    instrument: Annotated[str, Field(max_length=16)]
    loinc: Annotated[str, Field(pattern=r"^\d{1,7}-\d$")]
    date: dt.date
    total: Annotated[float, Field(ge=0)]
    band: Annotated[str, Field(max_length=32)] = ""
    flagged_items: Annotated[dict[str, int], Field(max_length=10)] = {}


class RiskSummary(_Strict):
    """What a device sends: the risk as a distribution, with provenance and evidence, never raw data."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    subject: Annotated[str, Field(max_length=256)]
    window_start: dt.date
    window_end: dt.date
    created_at: dt.datetime
    model_id: Annotated[str, Field(max_length=64)]
    model_version: Annotated[str, Field(max_length=32)]
    probability: Probability
    interval: Interval
    risk_band: RiskBand
    deviations: Annotated[list[Deviation], Field(max_length=MAX_DEVIATIONS)] = []
    coverage: Annotated[dict[str, Probability], Field(max_length=16)] = {}
    surveys: Annotated[list[SurveyScore], Field(max_length=MAX_SURVEYS)] = []

    @model_validator(mode="after")
    def _consistent(self) -> RiskSummary:
        if self.window_start > self.window_end:
            raise ValueError("window_start is after window_end")
        if not self.interval.lower <= self.probability <= self.interval.upper:
            raise ValueError("probability lies outside its own interval")
        return self


Tier = Literal["critical", "urgent", "routine", "info"]
TIERS: tuple[Tier, ...] = ("critical", "urgent", "routine", "info")


class Evidence(_Strict):
    """What a directive rests on: the summaries it read, their risk, deviations and surveys."""

    envelope_ids: Annotated[list[str], Field(max_length=64)] = []
    window_start: dt.date
    window_end: dt.date
    probability: Probability | None = None
    interval: Interval | None = None
    deviations: Annotated[list[Deviation], Field(max_length=MAX_DEVIATIONS)] = []
    surveys: Annotated[list[SurveyScore], Field(max_length=MAX_SURVEYS)] = []
    days_without_data: Annotated[int, Field(ge=0)] = 0


class Directive(_Strict):
    """What the clinic acts on: an action, its urgency and due time, why, and on what evidence."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    patient: Annotated[str, Field(max_length=256)]
    action: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,48}$")]
    action_text: ShortText
    tier: Tier
    due: dt.datetime
    rationale: Annotated[str, Field(min_length=1, max_length=300)]
    evidence: Evidence
    pathway_id: Annotated[str, Field(max_length=64)]
    pathway_version: Annotated[str, Field(max_length=32)]
    rule_id: Annotated[str, Field(max_length=64)]
    model_id: Annotated[str, Field(max_length=64)] = ""
    model_version: Annotated[str, Field(max_length=32)] = ""
    created_at: dt.datetime
    suggestion_only: bool = False
