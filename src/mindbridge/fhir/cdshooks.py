"""CDS Hooks 2.0.1 as pydantic models, written from the specification's field tables (cds-hooks.hl7.org/2.0).

Field names are the wire names (camelCase, except the snake_case of fhirAuthorization, as in the spec).
Every object may carry an `extension` object. What we send forbids unknown fields; what an EHR sends
(requests, feedback) ignores them, since EHRs add their own.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Extension = dict[str, Any]


class _Sent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extension: Extension | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON object as sent: wire names, no null fields."""
        return self.model_dump(mode="json", exclude_none=True)


class _Received(BaseModel):
    model_config = ConfigDict(extra="ignore")

    extension: Extension | None = None


class Service(_Sent):
    """One CDS service in the discovery response."""

    hook: str
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9\-_.]+$")]
    description: str
    title: str | None = None
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Sent):
    """`GET {base}/cds-services`: the services on offer."""

    services: list[Service]


class FhirAuthorization(_Received):
    """The access token the EHR grants the service for calling back its FHIR server (OAuth 2.0 fields)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(_Received):
    """`POST {base}/cds-services/{id}`: the hook call."""

    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization given without fhirServer")
        return self


class Coding(_Sent):
    """A CDS Hooks Coding: system and code, with display (required for override reasons)."""

    code: str
    system: str
    display: str | None = None


class Source(_Sent):
    """Where the card's guidance comes from."""

    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Sent):
    """A change the EHR makes if the user accepts the suggestion."""

    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: list[str] | None = None

    @model_validator(mode="after")
    def _target(self) -> Action:
        if self.type in ("create", "update") and self.resource is None:
            raise ValueError(f"action {self.type}: resource is required")
        if self.type == "delete" and not self.resourceId:
            raise ValueError("action delete: resourceId is required")
        return self


class Suggestion(_Sent):
    """A set of actions the user can accept in one click."""

    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Sent):
    """A link to a web page or a SMART app."""

    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class Card(_Sent):
    """One card: summary under 140 characters, indicator, source, and optionally suggestions and links."""

    uuid: str | None = None
    summary: Annotated[str, Field(min_length=1, max_length=139)]
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        if any(reason.display is None for reason in self.overrideReasons or []):
            raise ValueError("overrideReasons: every Coding needs a display")
        return self


class HookResponse(_Sent):
    """The service's answer: cards for the user and actions the EHR applies without asking."""

    cards: list[Card]
    systemActions: list[Action] | None = None


class AcceptedSuggestion(_Received):
    """A suggestion the user accepted, by its uuid."""

    id: str


class OverrideReason(_Received):
    """Why a card was overridden: one of the card's reasons and/or free text."""

    reason: Coding | None = None
    userComment: str | None = None


class Feedback(_Received):
    """The outcome of one card: accepted (with the suggestions taken) or overridden (with why)."""

    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: dt.datetime


class FeedbackRequest(_Received):
    """`POST {base}/cds-services/{id}/feedback`."""

    feedback: list[Feedback]
