"""De-identified research export: consent gating, identifier removal, pseudonyms and date shifts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mindbridge.privacy.consent import ConsentBook, Scope, issue_grant, new_status_list
from mindbridge.privacy.deidentify import date_shift, family_by_prefix, pseudonym, read_table, research_export
from mindbridge.privacy.errors import MalformedInput
from mindbridge.privacy.keys import Identity
from shared_data import shared_path

NOW = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
EXPORTER = "did:web:research.example.org"
SECRET = b"exporter-secret-0123456789"


def consenting(subjects: list[str], families: list[str], revoke: set[str] = frozenset(),  # type: ignore[assignment]
               purpose: str = "research") -> tuple[dict[str, str], ConsentBook]:
    """Patients for `subjects`, each granting research consent for `families` (some then revoked)."""
    book = ConsentBook(EXPORTER, "research")
    mapping = {}
    for i, subject in enumerate(subjects):
        patient = Identity.generate("patient")
        status = new_status_list(patient.did)
        book.add_grant(issue_grant(patient, EXPORTER, purpose, Scope.of(families, ["daily_features"]),  # type: ignore[arg-type]
                                   NOW + dt.timedelta(days=30), status.id, i, NOW - dt.timedelta(days=1)))
        book.update_status((status.revoke(i) if subject in revoke else status).sign(patient, NOW))
        mapping[subject] = patient.did
    return mapping, book


def synthetic() -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=10, freq="D")
    rows = [{"subject": s, "date": d, "sleep:duration": 7.0 + i / 10, "coverage_sleep": 1.0, "age": age,
             "zip": "98105", "email": f"{s}@example.org", "notes": "felt fine"}
            for s, age in (("alice", 34), ("bob", 93), ("carol", 50)) for i, d in enumerate(days)]
    return pd.DataFrame(rows)


def test_identifiers_removed_and_dates_shifted_consistently() -> None:
    table = synthetic()
    mapping, book = consenting(["alice", "bob", "carol"], ["sleep"], revoke={"carol"})
    out = research_export(table, mapping, book, SECRET, now=NOW)
    assert set(out.dropped_columns) == {"zip", "email", "notes"}
    assert set(out.refused_subjects) == {"carol"} and "revoked" in out.refused_subjects["carol"]
    result = out.table
    assert list(result.columns) == ["subject", "date", "sleep:duration", "coverage_sleep", "age"]
    assert set(result["subject"]) == {pseudonym(SECRET, "alice"), pseudonym(SECRET, "bob")}
    assert not result.isin(["alice", "bob", "carol"]).any().any()
    for name in ("alice", "bob"):
        mine = result[result["subject"] == pseudonym(SECRET, name)]
        original = table[table["subject"] == name]
        shifts = (mine["date"].to_numpy() - pd.to_datetime(original["date"]).to_numpy())
        assert len(set(shifts)) == 1  # one shift per subject: intervals between days are kept
        assert shifts[0] == np.timedelta64(date_shift(SECRET, name))
        assert mine["date"].dt.day_of_week.tolist() == pd.to_datetime(original["date"]).dt.day_of_week.tolist()
    assert result.loc[result["subject"] == pseudonym(SECRET, "bob"), "age"].eq(90).all()
    assert result.loc[result["subject"] == pseudonym(SECRET, "alice"), "age"].eq(34).all()


def test_pseudonyms_and_shifts_depend_on_the_secret() -> None:
    assert pseudonym(SECRET, "alice") != pseudonym(b"another-secret-987654321", "alice")
    assert pseudonym(SECRET, "alice") != pseudonym(SECRET, "bob")
    shifts = {date_shift(SECRET, f"s{i}") for i in range(200)}
    assert all(s.days % 7 == 0 and 7 <= abs(s.days) <= 364 for s in shifts) and len(shifts) > 40


def test_scope_and_purpose_are_enforced() -> None:
    table = synthetic()
    mapping, book = consenting(["alice", "bob", "carol"], ["activity"])
    assert research_export(table, mapping, book, SECRET, now=NOW).table.empty
    mapping, book = consenting(["alice", "bob", "carol"], ["sleep"], purpose="treatment")
    out = research_export(table, mapping, book, SECRET, now=NOW)
    assert out.table.empty and len(out.refused_subjects) == 3
    with pytest.raises(MalformedInput, match="research"):
        research_export(table, mapping, ConsentBook(EXPORTER, "treatment"), SECRET)
    with pytest.raises(MalformedInput, match="'date'"):
        research_export(table.drop(columns="date"), mapping, book, SECRET)


def test_family_by_prefix() -> None:
    assert family_by_prefix("coverage_sleep") == "sleep"
    assert family_by_prefix("f_steps:fitbit_steps_summary_rapids_maxsumsteps:14dhist") == "steps"
    assert family_by_prefix("activity:m10") == "activity"
    assert family_by_prefix("mean_activity") is None


def test_real_globem_features(tmp_path: Path) -> None:
    path = shared_path("globem_sample", "INS-W-sample_1", "FeatureData", "steps.csv")
    table = read_table(path).rename(columns={"pid": "subject"})
    subjects = sorted(table["subject"].unique())
    mapping, book = consenting(subjects[:-2], ["steps"])
    out = research_export(table, mapping, book, SECRET, now=NOW)
    assert set(out.refused_subjects) == set(subjects[-2:])
    assert out.table["subject"].nunique() == len(subjects) - 2
    assert not out.table["subject"].isin(subjects).any()
    assert len(out.table) == int(table["subject"].isin(subjects[:-2]).sum())
    feature = next(c for c in table.columns if c.startswith("f_steps:"))
    kept = table[table["subject"] == subjects[0]][feature].to_numpy()
    mine = out.table[out.table["subject"] == pseudonym(SECRET, subjects[0])][feature].to_numpy()
    np.testing.assert_array_equal(kept, mine)  # values untouched, only identity and dates changed
