"""The schema of a care pathway file: versioned YAML that clinicians read and edit.

A pathway is a list of rules. Each rule has a condition (`when`) built from a few leaf tests over a
patient's recent risk summaries — risk probability and its interval, persistence over days, named
biomarker deviations, survey answers, data gaps — combined with `all`, `any` and `not`; and what to do
when it holds: the action, its urgency tier, the due time, a one-sentence rationale template whose
placeholders are the facts the tests found, and the references the rule rests on.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..summary import Tier

_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?)?$")


class PathwayError(ValueError):
    """A pathway file that cannot be used; the message names the file and the field."""


def parse_duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration of days, hours and minutes (e.g. `PT4H`, `P3D`, `P1DT12H`)."""
    m = _DURATION.match(text)
    if not m or text in ("P", "PT"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT4H or P3D")
    return dt.timedelta(days=int(m["d"] or 0), hours=int(m["h"] or 0), minutes=int(m["m"] or 0))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskTest(_Strict):
    """The latest probability (or a bound of its interval) against a threshold, with optional hysteresis."""

    measure: Literal["probability", "lower", "upper"] = "probability"
    at_least: Annotated[float, Field(ge=0, le=1)]
    exit_below: Annotated[float, Field(ge=0, le=1)] | None = None

    @model_validator(mode="after")
    def _hysteresis(self) -> RiskTest:
        if self.exit_below is not None and self.exit_below > self.at_least:
            raise ValueError("exit_below must not exceed at_least (hysteresis needs exit ≤ enter)")
        return self


class PersistenceTest(_Strict):
    """At least `days` of the last `of_last` daily summaries had the measure at or above the threshold."""

    days: Annotated[int, Field(ge=1)]
    of_last: Annotated[int, Field(ge=1, le=60)]
    measure: Literal["probability", "lower", "upper"] = "probability"
    at_least: Annotated[float, Field(ge=0, le=1)]

    @model_validator(mode="after")
    def _fits(self) -> PersistenceTest:
        if self.days > self.of_last:
            raise ValueError("days cannot exceed of_last")
        return self


class DeviationTest(_Strict):
    """A named biomarker deviating from the patient's own baseline by a robust z-score."""

    biomarker: Annotated[str, Field(min_length=1)]
    abs_z_at_least: Annotated[float, Field(gt=0)]
    direction: Literal["higher", "lower", "any"] = "any"
    days_at_least: Annotated[int, Field(ge=1)] = 1


class SurveyTest(_Strict):
    """A scored questionnaire in the summaries: totals, bands, item 9, response and remission."""

    instrument: Annotated[str, Field(min_length=1)]
    total_at_least: float | None = None
    total_below: float | None = None
    item9_at_least: int | None = None
    response: bool | None = None
    remission_below: float | None = None
    within_days: Annotated[int, Field(ge=1)] = 14


class GapTest(_Strict):
    """No worn day received for at least this many days (a lost signal is itself a signal)."""

    days_at_least: Annotated[int, Field(ge=1)]


class UnwornTest(_Strict):
    """The newest summaries, at least this many in a row, came from days the device was not worn enough."""

    days_at_least: Annotated[int, Field(ge=1)] = 1


class WearPolicy(_Strict):
    """When a summary's day counts as worn: its family's coverage at or above `min_coverage`.

    A summary of a day below it is a data gap: its risk, persistence and deviations are never read as
    evidence (surveys still are: a questionnaire does not need the watch).
    """

    family: Annotated[str, Field(min_length=1, max_length=32)] = "activity"
    min_coverage: Annotated[float, Field(ge=0, le=1)] = 0.75
    reason: str = ""


class Condition(_Strict):
    """Exactly one of: a leaf test, or `all` / `any` / `not` over conditions."""

    risk: RiskTest | None = None
    persistence: PersistenceTest | None = None
    deviation: DeviationTest | None = None
    survey: SurveyTest | None = None
    data_gap: GapTest | None = None
    unworn: UnwornTest | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        set_fields = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_fields) != 1:
            raise ValueError(f"a condition needs exactly one test or combinator, found {set_fields or 'none'}")
        return self


class Rule(_Strict):
    """One rule: when its condition holds, it produces a directive."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
    title: Annotated[str, Field(min_length=1, max_length=120)]
    when: Condition
    action: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,48}$")]
    action_text: Annotated[str, Field(min_length=1, max_length=200)]
    tier: Tier
    due: str
    rationale: Annotated[str, Field(min_length=1, max_length=300)]
    references: list[str] = []
    never_suppressed: bool = False
    suggestion_only: bool = False
    protocol: str | None = None

    @field_validator("due")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @model_validator(mode="after")
    def _medication_is_only_suggested(self) -> Rule:
        if "medication" in self.action and not (self.suggestion_only and self.protocol):
            raise ValueError("medication actions must be suggestion_only and name the clinician-authored "
                             "protocol they follow")
        return self

    @property
    def due_after(self) -> dt.timedelta:
        """How long after the directive is raised it is due."""
        return parse_duration(self.due)

    def placeholders(self) -> set[str]:
        """The fact names the rationale template asks for."""
        return {name for _, name, _, _ in string.Formatter().parse(self.rationale) if name}


class Pathway(_Strict):
    """A versioned set of rules, with the references they cite."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
    version: Annotated[str, Field(min_length=1, max_length=32)]
    title: str
    description: str = ""
    owner: str = ""
    references: dict[str, str] = {}
    wear: WearPolicy = WearPolicy()
    rules: Annotated[list[Rule], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Pathway:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique: {dupes}")
        for rule in self.rules:
            missing = [ref for ref in rule.references if ref not in self.references]
            if missing:
                raise ValueError(f"rule {rule.id!r} cites unknown references {missing}")
        return self


def load_pathway(path: Path) -> Pathway:
    """Read and validate a pathway YAML file; errors name the file and the field."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PathwayError(f"{path}: cannot read pathway: {exc}") from exc
    try:
        return Pathway.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PathwayError(f"{path}: {where}: {first['msg']} ({exc.error_count()} problem(s) in all)") from exc
