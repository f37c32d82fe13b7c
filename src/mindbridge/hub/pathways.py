"""Evaluate a care pathway over one patient's received risk summaries, producing directives.

Every fact in a directive comes from the summaries it names as evidence: the engine reads, compares and
quotes; it never estimates. Rules are evaluated independently; triage later merges and rations them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..fhir.codes import ITEM_ALIASES
from ..summary import Deviation, Directive, Evidence, Interval, RiskSummary, SurveyScore, z_quoted
from .pathway_model import (
    Condition,
    DeviationTest,
    GapTest,
    Pathway,
    PathwayError,
    PersistenceTest,
    RiskTest,
    Rule,
    SurveyTest,
    UnwornTest,
    WearPolicy,
    load_pathway,
)

DEFAULT_PATHWAY = Path(__file__).with_name("pathways") / "depression-mbc.yaml"
RATIONALE_CHARS = 300  # `Directive.rationale`'s bound
DEFAULT_WEAR = WearPolicy()

# The facts each leaf test can put at a rationale's disposal.
FACTS: dict[str, set[str]] = {
    "risk": {"probability", "lower", "upper", "interval", "threshold", "window_end"},
    "persistence": {"days_met", "of_last", "threshold"},
    "deviation": {"biomarker", "deviation_text", "robust_z", "deviation_days"},
    "survey": {"instrument", "total", "item9", "survey_date", "baseline_total", "change_pct"},
    "data_gap": {"gap_days", "last_seen"},
    "unworn": {"unworn_days", "unworn_since", "coverage"},
}


@dataclass(frozen=True)
class Received:
    """A risk summary as the hub received it, with the envelope it came in."""

    envelope_id: str
    summary: RiskSummary


@dataclass(frozen=True)
class PatientHistory:
    """One patient's received summaries (any order), and which rules were active at the last evaluation.

    `first_surveys` are the summaries that carried the patient's first-ever administration of each
    instrument, however old: the baseline a response is measured from (they may predate `received`).
    """

    patient: str
    received: Sequence[Received]
    active_rules: frozenset[str] = frozenset()
    enrolled_at: dt.datetime | None = None
    first_surveys: Sequence[Received] = ()

    def ordered(self) -> list[Received]:
        """Summaries sorted by the end of their window, then by creation time."""
        return sorted(self.received, key=lambda r: (r.summary.window_end, r.summary.created_at))


@dataclass
class Finding:
    """Whether a condition held, the facts it found, and the summaries and items it rests on."""

    holds: bool
    facts: dict[str, str] = field(default_factory=dict)
    used: list[Received] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    surveys: list[SurveyScore] = field(default_factory=list)


class _Facts(dict[str, str]):
    """Facts for a rationale; a fact from a branch that did not hold reads as 'not applicable'."""

    def __missing__(self, key: str) -> str:
        return "n/a"


def _pct(p: float) -> str:
    return f"{p:.0%}"


def interval_words(interval: Interval) -> str:
    """An interval as a clinician reads it, saying which kind; 'no interval' when it shows no spread in percent."""
    lower, upper = _pct(interval.lower), _pct(interval.upper)
    if lower == upper:
        return "no interval: too few worn days to estimate one"
    return f"{interval.level:.0%} {interval.method} interval {lower}-{upper}"


def item_answer(score: SurveyScore, key: str) -> int | None:
    """A flagged item's answer, whether the device keyed it by its LOINC code or by an alias ("item9")."""
    code = ITEM_ALIASES.get(key, key)
    found = [v for k, v in score.flagged_items.items() if ITEM_ALIASES.get(k, k) == code]
    return max(found) if found else None


def _measure(s: RiskSummary, measure: str) -> float:
    return {"probability": s.probability, "lower": s.interval.lower, "upper": s.interval.upper}[measure]


def _risk(test: RiskTest, history: list[Received], rule: Rule, active: bool) -> Finding:
    if not history:
        return Finding(False)
    last = history[-1]
    value = _measure(last.summary, test.measure)
    threshold = test.exit_below if active and test.exit_below is not None else test.at_least
    facts = {"probability": _pct(last.summary.probability), "lower": _pct(last.summary.interval.lower),
             "upper": _pct(last.summary.interval.upper), "interval": interval_words(last.summary.interval),
             "threshold": _pct(threshold), "window_end": last.summary.window_end.isoformat()}
    return Finding(value >= threshold, facts, [last])


def _persistence(test: PersistenceTest, history: list[Received]) -> Finding:
    recent = history[-test.of_last:]
    met = [r for r in recent if _measure(r.summary, test.measure) >= test.at_least]
    facts = {"days_met": str(len(met)), "of_last": str(len(recent)), "threshold": _pct(test.at_least)}
    return Finding(len(met) >= test.days, facts, list(recent))


def _deviation(test: DeviationTest, history: list[Received]) -> Finding:
    if not history:
        return Finding(False)
    last = history[-1]
    for d in last.summary.deviations:
        if d.biomarker != test.biomarker or d.days < test.days_at_least:
            continue
        signed = {"higher": d.robust_z, "lower": -d.robust_z, "any": abs(d.robust_z)}[test.direction]
        if signed >= test.abs_z_at_least:
            facts = {"biomarker": d.biomarker, "deviation_text": d.text, "robust_z": z_quoted(d.robust_z),
                     "deviation_days": str(d.days)}
            return Finding(True, facts, [last], deviations=[d])
    return Finding(False)


def _survey(test: SurveyTest, history: list[Received], now: dt.datetime, baselines: Sequence[Received]) -> Finding:
    def scored(summaries: Iterable[Received]) -> list[tuple[Received, SurveyScore]]:
        return [(r, s) for r in summaries for s in r.summary.surveys if s.instrument == test.instrument]

    in_window = scored(history)
    recent = [(r, s) for r, s in in_window if (now.date() - s.date).days <= test.within_days]
    if not recent:
        return Finding(False)
    received, latest = max(recent, key=lambda rs: rs[1].date)
    first = min(scored(baselines) + in_window, key=lambda rs: rs[1].date)[1]
    item9 = item_answer(latest, "item9")
    change = (latest.total - first.total) / first.total if first.total > 0 else 0.0
    checks = [
        test.total_at_least is None or latest.total >= test.total_at_least,
        test.total_below is None or latest.total < test.total_below,
        test.item9_at_least is None or (item9 is not None and item9 >= test.item9_at_least),
        test.response is None or (first != latest and (change <= -0.5) == test.response),
        test.remission_below is None or latest.total < test.remission_below,
    ]
    facts = {"instrument": latest.instrument, "total": f"{latest.total:g}", "item9": str(item9 if item9 is not None
                                                                                       else "not answered"),
             "survey_date": latest.date.isoformat(), "baseline_total": f"{first.total:g}",
             "change_pct": f"{change:+.0%}"}
    return Finding(all(checks), facts, [received], surveys=[latest])


def _unworn(test: UnwornTest, history: list[Received], wear: WearPolicy) -> Finding:
    run = list(itertools.takewhile(lambda r: not worn(r, wear), reversed(history)))[::-1]
    if not run:
        return Finding(False)
    cover = run[-1].summary.coverage.get(wear.family)
    facts = {"unworn_days": str(len(run)), "unworn_since": run[0].summary.window_end.isoformat(),
             "coverage": "no data" if cover is None else _pct(cover)}
    return Finding(len(run) >= test.days_at_least, facts, run)


def worn(received: Received, wear: WearPolicy) -> bool:
    """Whether a summary's day was worn enough to carry evidence (its family's coverage against the pathway's)."""
    return received.summary.coverage.get(wear.family, 0.0) >= wear.min_coverage


def _gap(test: GapTest, history: list[Received], now: dt.datetime, enrolled: dt.datetime | None) -> Finding:
    if history:
        last_day = history[-1].summary.window_end
    elif enrolled is not None:
        last_day = enrolled.date()
    else:
        return Finding(False)
    gap = (now.date() - last_day).days
    facts = {"gap_days": str(gap), "last_seen": last_day.isoformat() if history else "never"}
    return Finding(gap >= test.days_at_least, facts, history[-1:])


def evaluate_condition(cond: Condition, history: list[Received], rule: Rule, now: dt.datetime,
                       active: bool, enrolled: dt.datetime | None = None,
                       baselines: Sequence[Received] = (), wear: WearPolicy = DEFAULT_WEAR,
                       evidence: list[Received] | None = None) -> Finding:
    """Evaluate one condition tree over a patient's ordered summaries (and their first-ever surveys).

    Risk, persistence, deviations and data gaps read only the summaries of worn days (`evidence`, selected from
    `history` by `wear` when not given); surveys read all.
    """
    if evidence is None:
        evidence = [r for r in history if worn(r, wear)]

    def sub(c: Condition) -> Finding:
        return evaluate_condition(c, history, rule, now, active, enrolled, baselines, wear, evidence)

    if cond.risk is not None:
        return _risk(cond.risk, evidence, rule, active)
    if cond.persistence is not None:
        return _persistence(cond.persistence, evidence)
    if cond.deviation is not None:
        return _deviation(cond.deviation, evidence)
    if cond.survey is not None:
        return _survey(cond.survey, history, now, baselines)
    if cond.data_gap is not None:
        return _gap(cond.data_gap, evidence, now, enrolled)
    if cond.unworn is not None:
        return _unworn(cond.unworn, history, wear)
    if cond.not_ is not None:
        return Finding(not sub(cond.not_).holds)
    parts = [sub(c) for c in (cond.all or cond.any or [])]
    holds = all(p.holds for p in parts) if cond.all is not None else any(p.holds for p in parts)
    return _merge([p for p in parts if p.holds] if holds else [], holds)


def _merge(parts: list[Finding], holds: bool) -> Finding:
    out = Finding(holds)
    for p in parts:
        out.facts.update(p.facts)
        out.used.extend(r for r in p.used if r not in out.used)
        out.deviations.extend(d for d in p.deviations if d not in out.deviations)
        out.surveys.extend(s for s in p.surveys if s not in out.surveys)
    return out


def _leaf_kinds(cond: Condition) -> set[str]:
    for name in FACTS:
        if getattr(cond, name) is not None:
            return {name}
    children = cond.all or cond.any or []
    return set().union(*(_leaf_kinds(c) for c in children)) if children else set()


def check_templates(pathway: Pathway) -> None:
    """Refuse a pathway whose rationale asks for a fact its rule's tests cannot provide."""
    for rule in pathway.rules:
        available = set().union(*(FACTS[k] for k in _leaf_kinds(rule.when)))
        unknown = rule.placeholders() - available
        if unknown:
            raise PathwayError(f"rule {rule.id!r}: rationale uses {sorted(unknown)}, but its tests only provide "
                               f"{sorted(available)}")


def bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word, with an ellipsis, when longer (a rationale never fails to fit)."""
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;(") + "…"


def directive_id(patient: str, rule: Rule, pathway: Pathway, basis: str) -> str:
    """A stable id: the same patient, rule and evidence (summaries and the facts quoted) give the same directive."""
    digest = hashlib.sha256(f"{patient}|{pathway.id}|{pathway.version}|{rule.id}|{basis}".encode()).hexdigest()
    return f"dir-{digest[:32]}"


class PathwayEngine:
    """A loaded pathway, ready to turn patient histories into directives."""

    def __init__(self, pathway: Pathway) -> None:
        check_templates(pathway)
        self.pathway = pathway

    @classmethod
    def from_file(cls, path: Path = DEFAULT_PATHWAY) -> PathwayEngine:
        """Load and check a pathway YAML file."""
        return cls(load_pathway(path))

    def evaluate(self, history: PatientHistory, now: dt.datetime,
                 on_rule: Callable[[Rule, Finding], None] | None = None) -> list[Directive]:
        """Every directive the pathway's rules raise for this patient now."""
        ordered = history.ordered()
        evidence = [r for r in ordered if worn(r, self.pathway.wear)]  # once for every rule's tree
        out = []
        for rule in self.pathway.rules:
            found = evaluate_condition(rule.when, ordered, rule, now, rule.id in history.active_rules,
                                       history.enrolled_at, history.first_surveys, self.pathway.wear, evidence)
            if on_rule is not None:
                on_rule(rule, found)
            if found.holds:
                out.append(self._directive(rule, found, history.patient, ordered, now))
        return out

    def _directive(self, rule: Rule, found: Finding, patient: str, ordered: list[Received],
                   now: dt.datetime) -> Directive:
        used = found.used or ordered[-1:]
        latest = used[-1].summary if used else None
        risk = latest if used and worn(used[-1], self.pathway.wear) else None  # an unworn day carries no risk
        # the evidence and the facts quoted from it: one id always names one content (a gap of 3 days and one of
        # 4 days since the same summary are two directives), so which evaluation stored it first cannot matter
        facts = ";".join(f"{k}={v}" for k, v in sorted(found.facts.items()))
        basis = (",".join(r.envelope_id for r in used) or f"gap@{now.date().isoformat()}") + f"|{facts}"
        evidence = Evidence(
            envelope_ids=[r.envelope_id for r in used][-64:],
            window_start=min(r.summary.window_start for r in used) if used else now.date(),
            window_end=max(r.summary.window_end for r in used) if used else now.date(),
            probability=risk.probability if risk else None,
            interval=risk.interval if risk else None,
            deviations=found.deviations or (list(risk.deviations[:3]) if risk else []),
            surveys=found.surveys,
            days_without_data=int(found.facts.get("gap_days", 0)),
        )
        return Directive(
            id=directive_id(patient, rule, self.pathway, basis), patient=patient, action=rule.action,
            action_text=rule.action_text, tier=rule.tier, due=now + rule.due_after,
            rationale=bounded(rule.rationale.format_map(_Facts(found.facts)), RATIONALE_CHARS), evidence=evidence,
            pathway_id=self.pathway.id, pathway_version=self.pathway.version, rule_id=rule.id,
            model_id=latest.model_id if latest else "", model_version=latest.model_version if latest else "",
            created_at=now, suggestion_only=rule.suggestion_only,
        )
