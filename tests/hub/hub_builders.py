"""Builders of risk summaries for hub tests (what devices would send)."""

from __future__ import annotations

import datetime as dt

from mindbridge.hub.pathways import Received
from mindbridge.summary import Deviation, Interval, RiskSummary, SurveyScore

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def summary(day: int, p: float, *, width: float = 0.1, deviations: list[Deviation] | None = None,
            surveys: list[SurveyScore] | None = None, patient: str = "did:key:zPatient",
            worn: float = 0.95) -> RiskSummary:
    """A daily summary for 2026-11-`day` of a day with `worn` activity coverage."""
    date = dt.date(2026, 11, day)
    return RiskSummary(subject=patient, window_start=date - dt.timedelta(days=6), window_end=date,
                       created_at=dt.datetime(2026, 11, day, 23, 0, tzinfo=dt.UTC), model_id="mb-depresjon",
                       model_version="1.0.0", probability=p,
                       interval=Interval(lower=max(0.0, p - width), upper=min(1.0, p + width)),
                       risk_band="high" if p >= 0.6 else "moderate" if p >= 0.3 else "low",
                       deviations=deviations or [], surveys=surveys or [],
                       coverage={"activity": worn, "sleep": worn})


def phq9(day: int, total: float, item9: int | None = 0) -> SurveyScore:
    """A PHQ-9 administration on 2026-11-`day`."""
    return SurveyScore(instrument="PHQ-9", loinc="44261-6", date=dt.date(2026, 11, day), total=total,
                       flagged_items={} if item9 is None else {"item9": item9})


def received(*summaries: RiskSummary) -> list[Received]:
    """Summaries as received, with envelope ids."""
    return [Received(f"env-{i}", s) for i, s in enumerate(summaries)]
