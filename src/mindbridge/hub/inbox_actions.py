"""The inbox page's forms: acknowledge, snooze with a reason, record feedback, send a PHQ-9 or schedule a
contact (a FHIR Task, pushed by the EHR outbox); and the card links' target.

Plain HTML form posts (the page has no script), authenticated by the inbox's session cookie and protected
against cross-site forgery by `csrf.check_form`. Each action goes through `queue_actions`, so it is checked
(panel, consent), serialised and audited exactly like the JSON API. Success redirects back to the item's
row (303, post/redirect/get); a refusal (e.g. snoozing a never-suppressed item) answers a short page saying
why, with the matching status code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..fhir.codes import TIER_PRIORITY
from ..fhir.requests import KINDS, RequestKind
from .access import Clinician, DbDep, HubDep, read_patient
from .csrf import check_form
from .db import DirectiveRow
from .ehr import connection_of
from .ehr_tables import RequestRow
from .queue_actions import locked_item, record_feedback, save_item
from .triage import TriageError, acknowledge, snooze
from .web import templates

actions_router = APIRouter(tags=["inbox"])


class ActionForm(BaseModel):
    """Every inbox form carries the session's CSRF token."""

    csrf: Annotated[str, Field(max_length=128)] = ""


class SnoozeForm(ActionForm):
    """Snooze for a number of hours, with a reason."""

    hours: Annotated[float, Field(gt=0, le=24 * 14)]
    reason: Annotated[str, Field(max_length=300)] = ""


class RequestForm(ActionForm):
    """Ask the patient for a PHQ-9, or ask for a contact with the patient to be scheduled."""

    kind: RequestKind


class FeedbackForm(ActionForm):
    """Whether the item's suggestion was taken, and why not."""

    outcome: Literal["accepted", "overridden"]
    reason: Annotated[str, Field(max_length=300)] = ""


def _back(item_id: str) -> RedirectResponse:
    return RedirectResponse(f"/inbox#{item_id}", status_code=303)


def _refused(request: Request, status: int, message: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "action_refused.html", {"message": message}, status_code=status)


@actions_router.post("/inbox/items/{item_id}/acknowledge", response_class=RedirectResponse)
def acknowledge_form(item_id: str, form: Annotated[ActionForm, Form()], request: Request, session: DbDep,
                     hub: HubDep, who: Clinician) -> Response:
    """Acknowledge an item from the inbox page."""
    check_form(request, form.csrf)
    item = acknowledge(locked_item(session, hub, who, item_id, "acknowledge"), who.name, dt.datetime.now(dt.UTC))
    save_item(session, who, item, "acknowledge", {"via": "inbox"})
    return _back(item_id)


@actions_router.post("/inbox/items/{item_id}/snooze", response_class=RedirectResponse)
def snooze_form(item_id: str, form: Annotated[SnoozeForm, Form()], request: Request, session: DbDep, hub: HubDep,
                who: Clinician) -> Response:
    """Snooze an item from the inbox page (a reason is required; never-suppressed items refuse)."""
    check_form(request, form.csrf)
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(hours=form.hours)
    try:
        item = snooze(locked_item(session, hub, who, item_id, "snooze"), until, form.reason, hub.policy, now)
    except TriageError as exc:
        return _refused(request, 409, str(exc))
    save_item(session, who, item, "snooze", {"until": until.isoformat(), "reason": item.snooze_reason, "via": "inbox"})
    return _back(item_id)


@actions_router.post("/inbox/items/{item_id}/request", response_class=RedirectResponse)
def request_form(item_id: str, form: Annotated[RequestForm, Form()], request: Request, session: DbDep, hub: HubDep,
                 who: Clinician) -> Response:
    """Send the patient a PHQ-9 or schedule a contact: noted on the item, audited, pushed to the EHR as a Task."""
    check_form(request, form.csrf)
    now = dt.datetime.now(dt.UTC)
    item = locked_item(session, hub, who, item_id, "request")
    kind = KINDS[form.kind]
    due = min(now + kind.within, max(item.due, now)) if form.kind == "contact" else now + kind.within
    request_id = f"req-{uuid.uuid4().hex[:24]}"
    session.add(RequestRow(id=request_id, patient=item.patient, item_id=item.id, kind=form.kind, by=who.name, at=now,
                           due=due, priority=TIER_PRIORITY[item.tier], reason=item.directive.rationale,
                           next_attempt_at=now, attempts=0, last_error=""))
    item = replace(item, updated_at=now, history=(*item.history, f"{now.isoformat()} {kind.text}: requested by "
                                                                 f"{who.name}, due {due:%Y-%m-%d %H:%M}"))
    save_item(session, who, item, "request", {"kind": form.kind, "request": request_id, "via": "inbox"})
    worker = connection_of(request.app).worker
    if worker is not None:
        worker.wake()
    return _back(item_id)


@actions_router.post("/inbox/items/{item_id}/feedback", response_class=RedirectResponse)
def feedback_form(item_id: str, form: Annotated[FeedbackForm, Form()], request: Request, session: DbDep,
                  hub: HubDep, who: Clinician) -> Response:
    """Record from the inbox page whether the item's suggestion was accepted or overridden, and why."""
    check_form(request, form.csrf)
    if form.outcome == "overridden" and not form.reason.strip():
        return _refused(request, 422, "Say why the suggestion was overridden: the pathway's owner reads the reasons.")
    item = locked_item(session, hub, who, item_id, "feedback")
    record_feedback(session, who.name, item.id, item.directive.rule_id, form.outcome, form.reason.strip(),
                    dt.datetime.now(dt.UTC))
    session.commit()
    return _back(item_id)


@actions_router.get("/directives/{directive_id}", response_class=RedirectResponse)
def directive_page(directive_id: str, session: DbDep, hub: HubDep, who: Clinician) -> Response:
    """Where a CDS card's link lands: the directive on its patient's page, with its evidence and versions."""
    patient = session.scalar(select(DirectiveRow.patient).where(DirectiveRow.id == directive_id))
    if patient is None:
        raise LookupError(f"directive {directive_id} does not exist")
    read_patient(session, hub, who, patient, "directive")
    return RedirectResponse(f"/inbox/patients/{patient}#{directive_id}", status_code=303)
