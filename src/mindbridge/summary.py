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
# The largest |robust z| a summary may carry (devices clip to it; intake refuses beyond), and the largest the
# words quote as a number: beyond it a deviation reads "far outside this patient's usual range".
Z_LIMIT = 1000.0
Z_WORDS = 10.0
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters: text is shown to clinicians and written to logs

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=_PRINTABLE)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
ItemCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]  # a LOINC item code, or an alias
Magnitude = Annotated[float, Field(ge=-1e9, le=1e9)]


def z_words(z: float) -> str:
    """A robust z as a clinician reads it: 'robust z +2.4', or words once it is beyond `Z_WORDS`."""
    return f"robust z {z:+.1f}" if abs(z) <= Z_WORDS else "far outside this patient's usual range"


def z_quoted(z: float) -> str:
    """A robust z for a rationale: 'robust z +2.4', or only the bound it passed ('robust z above +10')."""
    return f"robust z {z:+.1f}" if abs(z) <= Z_WORDS else f"robust z {'above +' if z > 0 else 'below -'}{Z_WORDS:g}"


# Biomarkers that are clock times (hours from local midnight): compared and worded on the 24 h dial on both sides.
CLOCK_FEATURES = frozenset({"sleep_onset", "sleep_offset", "sleep_midpoint", "m10_onset", "l5_onset",
                            "cosinor_acrophase"})


def shortest_arc(hours: float) -> float:
    """A difference of clock times (h) as the signed shortest way round the 24 h dial, in [−12, 12)."""
    return (hours + 12.0) % 24.0 - 12.0


def clock(hours: float) -> str:
    """Hours from local midnight (any sign) as a 24 h clock time, e.g. −1.5 is '22:30'."""
    minutes = round(float(hours) * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def duration(hours: float) -> str:
    """A length of time in hours as words: '2 h 40 min', '45 min'."""
    minutes = round(abs(float(hours)) * 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


class _Strict(BaseModel):
    # NaN and infinities are refused on every field: JSON cannot carry them, and a stored null would never
    # read back as the number it was.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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

    biomarker: Name
    family: Annotated[str, Field(max_length=32, pattern=_PRINTABLE)]
    unit: Annotated[str, Field(max_length=16, pattern=_PRINTABLE)]
    value: Magnitude
    baseline: Magnitude
    robust_z: Annotated[float, Field(ge=-Z_LIMIT, le=Z_LIMIT)]
    days: Annotated[int, Field(ge=1, le=366)] = 1
    text: ShortText
    # onset of a shift the patient's CUSUM signalled; left out of the JSON when absent, so hubs that predate
    # the field (which forbid unknown fields) still accept the summary
    sustained_since: dt.date | None = Field(default=None, exclude_if=lambda value: value is None)


class SurveyScore(_Strict):
    """A scored questionnaire: instrument (LOINC panel), total, and flagged items (e.g. PHQ-9 item 9)."""

    instrument: Annotated[str, Field(max_length=16, pattern=_PRINTABLE)]
    loinc: Annotated[str, Field(pattern=r"^\d{1,7}-\d$")]
    date: dt.date
    total: Annotated[float, Field(ge=0, le=1000)]
    band: Annotated[str, Field(max_length=32, pattern=_PRINTABLE)] = ""
    flagged_items: Annotated[dict[ItemCode, Annotated[int, Field(ge=0, le=10)]], Field(max_length=10)] = {}


class RiskSummary(_Strict):
    """What a device sends: the risk as a distribution, with provenance and evidence, never raw data."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    subject: Annotated[str, Field(min_length=1, max_length=256, pattern=_PRINTABLE)]
    window_start: dt.date
    window_end: dt.date
    created_at: dt.datetime
    model_id: Annotated[str, Field(min_length=1, max_length=64, pattern=_PRINTABLE)]
    model_version: Annotated[str, Field(min_length=1, max_length=32, pattern=_PRINTABLE)]
    probability: Probability
    interval: Interval
    risk_band: RiskBand
    deviations: Annotated[list[Deviation], Field(max_length=MAX_DEVIATIONS)] = []
    coverage: Annotated[dict[Name, Probability], Field(max_length=16)] = {}
    surveys: Annotated[list[SurveyScore], Field(max_length=MAX_SURVEYS)] = []

    @model_validator(mode="after")
    def _consistent(self) -> RiskSummary:
        if self.window_start > self.window_end:
            raise ValueError("window_start is after window_end")
        if not self.interval.lower <= self.probability <= self.interval.upper:
            raise ValueError("probability lies outside its own interval")
        if (self.window_end - self.window_start).days > 366:
            raise ValueError("window spans more than a year")
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
    days_without_data: Annotated[int, Field(ge=0, le=100_000)] = 0


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
