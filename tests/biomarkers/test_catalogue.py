"""The feature catalogue: unique names, every feature documented, and docs/biomarkers.md up to date."""

from __future__ import annotations

from pathlib import Path

from mindbridge.biomarkers.catalogue import duplicate_names, render
from mindbridge.biomarkers.registry import FAMILIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "biomarkers.md"


def test_feature_names_are_unique_across_families() -> None:
    assert duplicate_names() == []


def test_every_feature_has_a_unit_definition_and_reference() -> None:
    for family in FAMILIES:
        for f in family.features:
            assert f.definition.strip().endswith("."), (family.name, f.name)
            assert f.reference.strip(), (family.name, f.name)


def test_docs_page_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/biomarkers.md is stale: run `mindbridge biomarkers catalogue --out docs/biomarkers.md`")
