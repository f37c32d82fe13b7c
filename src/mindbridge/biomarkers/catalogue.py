"""The feature catalogue: every family's documented features, rendered as `docs/biomarkers.md`."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Family, coverage_column
from .registry import FAMILIES

INTRO = """# Biomarkers

Generated from the code by `mindbridge biomarkers catalogue` (a test fails when this page is stale).
Each family turns one subject's series into a daily table: one row per local day, one column per
feature below, and a `coverage_<family>` column in [0, 1] saying how much of the day had the data the
family needs. Missing stays missing: nothing is imputed.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(families: Sequence[Family] = FAMILIES) -> str:
    """Markdown: one section per family with a table of name, unit, definition and reference."""
    out = [INTRO]
    for family in families:
        doc = (type(family).__doc__ or "").strip().splitlines()[0]
        kinds = ", ".join(k.value for k in family.kinds)
        out.append(f"\n## {family.name}\n\n{doc}\n\nInput kinds: {kinds}. "
                   f"Coverage column: `{coverage_column(family.name)}`.\n")
        out.append("| feature | unit | definition | reference |\n|---|---|---|---|")
        out.extend(f"| `{f.name}` | {_cell(f.unit) or '—'} | {_cell(f.definition)} | {_cell(f.reference)} |"
                   for f in family.features)
    return "\n".join(out) + "\n"


def duplicate_names(families: Sequence[Family] = FAMILIES) -> list[str]:
    """Feature names that more than one family (or one family twice) declares."""
    seen: dict[str, int] = {}
    for family in families:
        for f in family.features:
            seen[f.name] = seen.get(f.name, 0) + 1
    return sorted(n for n, c in seen.items() if c > 1)
