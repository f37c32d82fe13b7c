"""Surveys: scoring one administration (totals, bands, proration, item 9), and the daily table by local day."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.surveys import (
    GAD7,
    INSTRUMENTS,
    PHQ2,
    PHQ4,
    PHQ9,
    PHQ9_ITEM9,
    SurveyError,
    SurveysFamily,
    score,
    score_all,
)
from mindbridge.datapoints import Kind, Series

LOINC = r"^\d{1,7}-\d$"


def responses(rows: list[tuple[str, str, float]], tz: str = "UTC") -> Series:
    """A survey series from (time, LOINC item, answer) rows."""
    return Series("p1", Kind.SURVEY_RESPONSE, "app", tz, np.array([t for t, _, _ in rows], "datetime64[ns]"),
                  {"value": np.array([v for _, _, v in rows], float),
                   "item": np.array([i for _, i, _ in rows], object)})


def administration(items: tuple[str, ...], answers: list[int], when: str) -> list[tuple[str, str, float]]:
    return [(when, code, float(a)) for code, a in zip(items, answers, strict=True)]


def test_codes_are_loinc_shaped_and_items_are_shared_as_published() -> None:
    for inst in INSTRUMENTS:
        assert re.match(LOINC, inst.panel) and all(re.match(LOINC, c) for c in inst.items)
    assert PHQ2.items == PHQ9.items[:2]
    assert PHQ4.items == PHQ9.items[:2] + GAD7.items[:2]
    assert PHQ9.items[8] == PHQ9_ITEM9 == "44260-8" and PHQ9.total_code == "44261-6"
    assert len(set(PHQ9.items)) == 9 and len(set(GAD7.items)) == 7


@pytest.mark.parametrize(("total", "band"), [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"),
                                             (10, "moderate"), (14, "moderate"), (15, "moderately severe"),
                                             (19, "moderately severe"), (20, "severe"), (27, "severe")])
def test_phq9_band_edges(total: int, band: str) -> None:
    answers = [3] * (total // 3) + [total % 3] + [0] * 9
    result = score(PHQ9, dict(zip(PHQ9.items, answers[:9], strict=True)))
    assert result.total == total and result.band == band and not result.prorated


@pytest.mark.parametrize(("total", "band"),
                         [(4, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"), (21, "severe")])
def test_gad7_band_edges(total: int, band: str) -> None:
    answers = ([3] * (total // 3) + [total % 3] + [0] * 7)[:7]
    assert score(GAD7, dict(zip(GAD7.items, answers, strict=True))).band == band


def test_phq9_prorates_up_to_two_missing_items_and_no_more() -> None:
    full = dict(zip(PHQ9.items, [2, 2, 2, 2, 2, 2, 2, 1, 0], strict=True))
    two_missing = {k: v for k, v in full.items() if k not in PHQ9.items[:2]}  # 7 answered, sum 11
    result = score(PHQ9, two_missing)
    assert result.prorated and result.answered == 7
    assert result.total == np.floor(11 * 9 / 7 + 0.5) == 14
    three_missing = {k: v for k, v in two_missing.items() if k != PHQ9.items[2]}
    invalid = score(PHQ9, three_missing)
    assert np.isnan(invalid.total) and invalid.band == "" and np.isnan(invalid.band_index)


def test_short_scales_need_every_item() -> None:
    assert score(PHQ2, {PHQ2.items[0]: 3, PHQ2.items[1]: 1}).band == "positive"
    assert np.isnan(score(PHQ2, {PHQ2.items[0]: 3}).total)
    assert np.isnan(score(PHQ4, dict(zip(PHQ4.items[:3], [1, 1, 1], strict=True))).total)
    six_of_seven = dict(zip(GAD7.items[:6], [1] * 6, strict=True))
    assert score(GAD7, six_of_seven).total == 7 and np.isnan(score(GAD7, dict(list(six_of_seven.items())[:5])).total)


def test_item9_is_flagged_even_when_the_total_is_not_valid() -> None:
    result = score(PHQ9, {PHQ9_ITEM9: 2})
    assert np.isnan(result.total) and result.flagged_items == {PHQ9_ITEM9: 2}
    assert score(PHQ9, {PHQ9_ITEM9: 0}).flagged_items == {}


def test_score_all_covers_every_instrument_touched() -> None:
    answers = dict(zip(PHQ4.items, [1, 2, 0, 3], strict=True))
    scored = {s.instrument: s for s in score_all(answers)}
    assert set(scored) == {"PHQ-9", "PHQ-2", "GAD-7", "PHQ-4"}
    assert scored["PHQ-4"].total == 6 and scored["PHQ-4"].band == "moderate" and scored["PHQ-4"].loinc == "69724-3"
    assert scored["PHQ-2"].total == 3 and np.isnan(scored["PHQ-9"].total)


def test_out_of_range_answers_are_refused_with_the_item() -> None:
    with pytest.raises(SurveyError, match="44250-9"):
        score(PHQ9, {PHQ9.items[0]: 4})
    with pytest.raises(SurveyError, match=r"69725-0 at 2024-01-05T09:00.* 1\.5"):
        SurveysFamily().daily([responses([("2024-01-05T09:00", GAD7.items[0], 1.5)])])


def test_daily_table_scores_each_local_day_with_the_last_answer_per_item() -> None:
    rows = administration(PHQ9.items, [1, 1, 1, 1, 1, 1, 1, 1, 1], "2024-01-10T08:00")
    rows += [("2024-01-10T09:00", PHQ9.items[0], 3.0)]  # a later correction the same day wins
    rows += administration(GAD7.items, [2, 2, 2, 2, 2, 2, 2], "2024-01-10T09:30")
    rows += [("2024-01-10T23:30", PHQ9_ITEM9, 0.0), ("2024-01-10T23:31", "99999-9", 7.0)]  # 00:30 in UTC+1
    table = SurveysFamily().daily([responses(sorted(rows), tz="+01:00")])
    assert list(table.index.strftime("%Y-%m-%d")) == ["2024-01-10", "2024-01-11"]
    first, second = table.iloc[0], table.iloc[1]
    assert first["phq9_total"] == 11 and first["phq9_band"] == 2
    assert first["phq9_item9"] == 1 and first["phq9_item9_positive"] == 1
    assert first["phq2_total"] == 4 and first["phq2_positive"] == 1
    assert first["gad7_total"] == 14 and first["gad7_band"] == 2
    assert first["phq4_total"] == 8 and first["phq4_band"] == 2
    assert first[coverage_column("surveys")] == 1.0
    assert np.isnan(second["phq9_total"]) and second["phq9_item9_positive"] == 0
    assert second[coverage_column("surveys")] == pytest.approx(1 / 9)


def test_unknown_items_alone_give_an_empty_table() -> None:
    table = SurveysFamily().daily([responses([("2024-01-01T10:00", "12345-6", 42.0)])])
    assert table.empty and coverage_column("surveys") in table.columns


@settings(max_examples=60, deadline=None)
@given(answers=st.lists(st.integers(0, 3), min_size=9, max_size=9),
       missing=st.sets(st.integers(0, 8), max_size=4), shift=st.integers(-500, 500))
def test_daily_matches_the_single_administration_scorer(answers: list[int], missing: set[int], shift: int) -> None:
    kept = [(code, a) for k, (code, a) in enumerate(zip(PHQ9.items, answers, strict=True)) if k not in missing]
    when = str(np.datetime64("2024-06-15T10:00") + np.timedelta64(shift, "D"))
    table = SurveysFamily().daily([responses([(when, c, float(a)) for c, a in kept])])
    expected = score(PHQ9, dict(kept))
    assert table.index[0] == np.datetime64("2024-06-15") + np.timedelta64(shift, "D")
    got = table["phq9_total"].iloc[0]
    assert (np.isnan(got) and np.isnan(expected.total)) or got == expected.total
    assert (np.isnan(got)) == (len(missing) > 2)
    if len(missing) == 0:
        assert got == sum(answers)
    assert 0 <= np.nan_to_num(got) <= 27
