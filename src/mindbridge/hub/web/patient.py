"""A patient's page in the inbox: who they are, risk over time with its interval, wear per day, PHQ-9, the
biomarkers that deviated against their usual, every directive in force with its evidence and versions, and
what clinicians did with each queue item.

Everything shown comes from the summaries the patient's devices sent and the directives the pathway raised;
a biomarker appears only on the days its device reported it as a deviation (the hub never receives the raw
daily values).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ...summary import CLOCK_FEATURES, Directive, clock, shortest_arc
from .. import repository
from ..access import Clinician, DbDep, HubDep, read_patient
from ..db import FeedbackRow
from ..directory import Person, people, refresh
from ..ehr import connection_of
from ..pathway_model import WearPolicy
from ..pathways import Received, item_answer, worn
from ..triage import QueueItem
from . import templates
from .charts import Chart, Point, svg

patient_router = APIRouter(tags=["inbox"])


@dataclass(frozen=True)
class Action:
    """One thing that happened to one of the patient's queue items."""

    at: str
    item: str
    what: str


def _percent(v: float) -> str:
    return f"{v:.0f}%"


def risk_chart(received: Sequence[Received], wear: WearPolicy) -> Chart:
    """Risk over time (%) with its interval as a band; unworn days left blank."""
    points = [Point(r.summary.window_end, 100 * r.summary.probability, 100 * r.summary.interval.lower,
                    100 * r.summary.interval.upper)
              if worn(r, wear) else Point(r.summary.window_end, None) for r in received]
    return Chart("Estimated depression risk (band: the summary's interval)", "risk (%)", 0, 100, points,
                 _percent, (0, 25, 50, 75, 100))


def wear_chart(received: Sequence[Received], wear: WearPolicy) -> Chart:
    """The share of each day the device was worn (activity coverage), against the pathway's wear bound."""
    points = [Point(r.summary.window_end, 100 * r.summary.coverage.get(wear.family, 0.0),
                    mark="" if worn(r, wear) else "not worn enough to read") for r in received]
    return Chart("Device worn (share of the day)", "worn (%)", 0, 100, points, _percent, (0, 50, 100),
                 100 * wear.min_coverage, f"read from {wear.min_coverage:.0%}")


def survey_chart(received: Sequence[Received]) -> Chart:
    """PHQ-9 totals (0-27), item 9 answers above 0 marked."""
    scores = {s.date: s for r in received for s in r.summary.surveys if s.instrument == "PHQ-9"}
    points = [Point(day, s.total, mark=f"item 9 answered {answer}" if (answer := item_answer(s, "item9")) else "")
              for day, s in sorted(scores.items())]
    return Chart("PHQ-9 total (red: item 9 above 0)", "PHQ-9 (0-27)", 0, 27, points, lambda v: f"{v:.0f}",
                 (0, 5, 10, 15, 20, 27))


def deviation_charts(received: Sequence[Received]) -> list[Chart]:
    """Each biomarker that deviated, on the days it did, against the patient's usual (dashed)."""
    series: dict[str, list[Point]] = {}
    units: dict[str, str] = {}
    for r in received:
        for d in r.summary.deviations:
            value = d.value
            if d.biomarker in CLOCK_FEATURES:  # on the dial: the shortest way round from the usual time
                value = d.baseline + shortest_arc(d.value - d.baseline)
            series.setdefault(d.biomarker, []).append(Point(r.summary.window_end, value, usual=d.baseline))
            units[d.biomarker] = d.unit
    return [_deviation_chart(name, units[name], points) for name, points in sorted(series.items())]


def _deviation_chart(name: str, unit: str, points: list[Point]) -> Chart:
    values = [v for p in points for v in (p.value, p.usual) if v is not None]
    low, high = min(values), max(values)
    pad = (high - low) * 0.15 or 1.0
    words = name.replace("_", " ")
    if name in CLOCK_FEATURES:
        return Chart(f"{words} (clock time)", "local time", low - pad, high + pad, points, clock)
    if unit == "1":
        return Chart(f"{words} (%)", "%", max(0.0, low - pad), high + pad, points, lambda v: f"{100 * v:.0f}%")
    shown = unit.replace("{", "").replace("}", "")
    return Chart(f"{words} ({shown})", shown, low - pad, high + pad, points, lambda v: f"{v:.3g}")


def actions(items: Sequence[QueueItem], feedback: Sequence[FeedbackRow]) -> list[Action]:
    """Every recorded step of the patient's queue items and every clinician's feedback, newest first."""
    out = [Action(f"{dt.datetime.fromisoformat(stamp):%Y-%m-%d %H:%M}", item.directive.action_text, what)
           for item in items for stamp, _, what in (note.partition(" ") for note in item.history)]
    out += [Action(f"{f.at:%Y-%m-%d %H:%M}", f.rule_id, f"{f.outcome} by {f.by}" + (f": {f.reason}" if f.reason
                                                                                     else "")) for f in feedback]
    return sorted(out, key=lambda a: a.at, reverse=True)


@patient_router.get("/inbox/patients/{patient}", response_class=HTMLResponse)
def patient_page(patient: str, request: Request, session: DbDep, hub: HubDep, who: Clinician) -> HTMLResponse:
    """One patient's page (on the caller's panel, under valid treatment consent; the read is audited)."""
    read_patient(session, hub, who, patient, "patient page")
    now = dt.datetime.now(dt.UTC)
    if refresh(session, connection_of(request.app).client, [patient], now):
        session.commit()
    person: Person = people(session, [patient])[patient]
    received = repository.history(session, patient, now, hub.settings.history_days)
    wear = hub.pathway.pathway.wear
    directives: list[Directive] = repository.directives_of(session, patient)
    items = repository.items_of(session, patient)
    feedback = list(session.scalars(select(FeedbackRow).where(FeedbackRow.item_id.in_([i.id for i in items]))))
    latest = next((r.summary for r in reversed(received) if worn(r, wear)), None)
    charts = [risk_chart(received, wear), wear_chart(received, wear), survey_chart(received),
              *deviation_charts(received)]
    return templates.TemplateResponse(request, "patient.html", {
        "who": who.name, "person": person, "now": now, "latest": latest, "received": received,
        "last_received": received[-1].summary if received else None, "wear": wear,
        "charts": [svg(c) for c in charts], "directives": directives, "actions": actions(items, feedback),
        "pathway": hub.pathway.pathway})
