"""A CDS Hooks card from a Directive: a short summary, the evidence as markdown, a Task to create, reasons to decline.

The suggested Task carries the same business identifier as the Task pushed in the directive's bundle, so an
EHR that de-duplicates by identifier does not make two work items when a clinician also accepts the card.
"""

from __future__ import annotations

from mindbridge.fhir import codes
from mindbridge.fhir.bundle import stable_uuid
from mindbridge.fhir.cdshooks import Action, Card, Coding, Link, Source, Suggestion
from mindbridge.fhir.resources import task
from mindbridge.summary import Directive, Evidence

OVERRIDE_SYSTEM = f"{codes.CANONICAL}/CodeSystem/override-reason"
# Why a clinician declines a card; the hub counts these per rule so pathway owners can retire noisy rules.
OVERRIDE_REASONS = (
    ("already-addressed", "Already addressed"),
    ("not-clinically-relevant", "Not clinically relevant for this patient"),
    ("data-quality", "The data look wrong (device, coverage or timing)"),
    ("patient-declined", "Patient declined"),
)
SUMMARY_LIMIT = 139


def summary_line(directive: Directive) -> str:
    """The card summary: the action and its due time, cut to fit under 140 characters."""
    line = f"{directive.action_text} (due {directive.due:%Y-%m-%d %H:%M %Z})".replace(" )", ")")
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1].rstrip() + "…"


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def evidence_markdown(evidence: Evidence) -> list[str]:
    """The evidence as markdown bullet lines: risk and interval, deviations, surveys, data gaps."""
    lines = []
    if evidence.probability is not None:
        risk = f"- Depression risk {_percent(evidence.probability)}"
        if evidence.interval is not None:
            i = evidence.interval
            risk += f" ({i.level:.0%} interval {_percent(i.lower)}–{_percent(i.upper)}, {i.method})"
        lines.append(risk)
    lines += [f"- {d.text} ({d.biomarker} {d.value:g} {d.unit} vs usual {d.baseline:g}, z {d.robust_z:+.1f}, "
              f"{d.days} d)" for d in evidence.deviations]
    for s in evidence.surveys:
        flagged = ", ".join(f"{item} = {answer}" for item, answer in sorted(s.flagged_items.items()))
        lines.append(f"- {s.instrument} {s.total:g} on {s.date.isoformat()}" + (f" ({s.band})" if s.band else "")
                     + (f"; flagged: {flagged}" if flagged else ""))
    if evidence.days_without_data:
        lines.append(f"- No data for {evidence.days_without_data} days")
    lines.append(f"- Window {evidence.window_start.isoformat()} to {evidence.window_end.isoformat()}")
    return lines


def card_from_directive(directive: Directive, patient: str, hub_url: str) -> Card:
    """The card for `directive` on `patient` ("Patient/<id>"), linking to the directive in the hub at `hub_url`."""
    detail = [
        f"**{directive.rationale}**",
        "",
        *evidence_markdown(directive.evidence),
        "",
        f"Pathway {directive.pathway_id} {directive.pathway_version}, rule {directive.rule_id}"
        + (f"; model {directive.model_id} {directive.model_version}" if directive.model_id else "") + ".",
    ]
    if directive.suggestion_only:
        detail.append("A suggestion for clinician review under the clinic's protocol, not an order.")
    work = task(directive, codes.identifier("task", directive.id), patient)
    base = hub_url.rstrip("/")
    return Card(
        uuid=stable_uuid("card", directive.id),
        summary=summary_line(directive),
        detail="\n".join(detail),
        indicator=codes.TIER_INDICATOR[directive.tier],
        source=Source(
            label=f"mindbridge {directive.pathway_id} {directive.pathway_version}",
            url=base,
            topic=Coding(system=codes.ACTION_SYSTEM, code=directive.action, display=directive.action_text),
        ),
        suggestions=[Suggestion(
            label=f"Create task: {directive.action_text}"[:80],
            uuid=stable_uuid("suggestion", directive.id),
            isRecommended=not directive.suggestion_only,
            actions=[Action(type="create", description=directive.action_text, resource=work)],
        )],
        selectionBehavior="at-most-one",
        overrideReasons=[Coding(system=OVERRIDE_SYSTEM, code=c, display=d) for c, d in OVERRIDE_REASONS],
        links=[Link(label="Open in mindbridge", url=f"{base}/directives/{directive.id}", type="absolute")],
    )
