"""Directives and evidence for the FHIR tests and hypothesis strategies that generate valid ones; the test
server handle and key maker are re-exported from medplum_server."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from medplum_server import FhirServer as FhirServer
from medplum_server import new_key as new_key
from mindbridge.summary import TIERS, Z_LIMIT, Deviation, Directive, Evidence, Interval, RiskSummary, SurveyScore

SCOPES = ["system/RiskAssessment.cr", "system/Observation.crs", "system/Task.crus", "system/*.cruds"]
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def deviation(biomarker: str = "sleep_total", family: str = "sleep", value: float = 310.0) -> Deviation:
    """A sleep deviation: 310 min against a usual 420."""
    return Deviation(biomarker=biomarker, family=family, unit="min", value=value, baseline=420.0, robust_z=-2.6,
                     days=5, text="Sleeping about two hours less than usual")


def phq9(total: float = 14, item9: int | None = 1) -> SurveyScore:
    """A PHQ-9 administration with its total and, optionally, item 9."""
    return SurveyScore(instrument="PHQ-9", loinc="44261-6", date=dt.date(2026, 3, 1), total=total, band="moderate",
                       flagged_items={} if item9 is None else {"item9": item9})


def evidence(probability: float | None = 0.42, **changes: object) -> Evidence:
    """Two weeks of evidence: risk with its interval, a sleep and a home-time deviation, a PHQ-9."""
    base = {
        "envelope_ids": ["env-001", "env-002"],
        "window_start": dt.date(2026, 2, 16),
        "window_end": dt.date(2026, 3, 1),
        "probability": probability,
        "interval": None if probability is None else Interval(lower=max(0.0, probability - 0.1),
                                                               upper=min(1.0, probability + 0.1)),
        "deviations": [deviation(), Deviation(biomarker="home_time", family="mobility", unit="min", value=1300,
                                              baseline=900, robust_z=2.1, days=7, text="More time at home")],
        "surveys": [phq9()],
    }
    return Evidence.model_validate(base | changes)


def directive(id: str = "dir-0001", tier: str = "critical", action: str = "safety_assessment",
              **changes: object) -> Directive:
    """A directive from the default pathway's item-9 rule (tier and action adjustable)."""
    base = {
        "id": id, "patient": "did:key:z6MkpatientA", "action": action,
        "action_text": "Same-day suicide-risk assessment", "tier": tier, "due": T0 + dt.timedelta(hours=8),
        "rationale": "PHQ-9 item 9 was answered above 0.",
        "evidence": evidence(), "pathway_id": "mbc-default", "pathway_version": "1.2.0", "rule_id": "phq9-item9",
        "model_id": "logit-depresjon", "model_version": "0.3.1", "created_at": T0,
    }
    return Directive.model_validate(base | changes)


def summary(probability: float = 0.37) -> RiskSummary:
    """A device's RiskSummary for the same window."""
    return RiskSummary(subject="did:key:z6MkpatientA", window_start=dt.date(2026, 2, 16),
                       window_end=dt.date(2026, 3, 1), created_at=T0, model_id="logit-depresjon",
                       model_version="0.3.1", probability=probability,
                       interval=Interval(lower=probability - 0.05, upper=probability + 0.05), risk_band="moderate",
                       deviations=[deviation()], coverage={"sleep": 0.9}, surveys=[phq9(9, None)])


ACTIONS = ["safety_assessment", "contact_patient", "clinician_review", "review_at_next_visit", "check_device",
           "medication_review_suggestion"]
BIOMARKERS = [("sleep_total", "sleep"), ("hr_mean", "cardiac"), ("home_time", "mobility"), ("steps", "activity"),
              ("voice_pause_ratio", "voice")]

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
z_scores = st.floats(min_value=-Z_LIMIT, max_value=Z_LIMIT, allow_nan=False)


@st.composite
def directives(draw: st.DrawFn) -> Directive:
    """Valid directives over every tier, action, optional risk, deviations and survey answers."""
    probability = draw(st.none() | st.floats(min_value=0.0, max_value=1.0))
    picked = draw(st.lists(st.sampled_from(BIOMARKERS), max_size=4, unique=True))
    devs = [Deviation(biomarker=b, family=f, unit=draw(st.sampled_from(["min", "/min", "{counts}", ""])),
                      value=draw(finite), baseline=draw(finite), robust_z=draw(z_scores),
                      days=draw(st.integers(1, 30)), text=f"{b} changed",
                      sustained_since=draw(st.none() | st.dates(dt.date(2025, 1, 1), dt.date(2026, 3, 1))))
            for b, f in picked]
    surveys = draw(st.lists(st.builds(phq9, st.integers(0, 27), st.none() | st.integers(0, 3)), max_size=1))
    return directive(
        id=draw(st.from_regex(r"[a-z0-9\-]{1,40}", fullmatch=True)),
        tier=draw(st.sampled_from(TIERS)),
        action=draw(st.sampled_from(ACTIONS)),
        suggestion_only=draw(st.booleans()),
        evidence=evidence(probability, deviations=devs, surveys=surveys,
                          days_without_data=draw(st.integers(0, 14))),
    )
