"""Survey family: PHQ-9, PHQ-2, GAD-7 and PHQ-4 scored from SURVEY_RESPONSE series (item = LOINC item code).

Every item is answered 0–3 ("not at all" … "nearly every day"); an instrument's total is the sum of its
items. PHQ-2 is PHQ-9 items 1–2, and PHQ-4 is PHQ-2 plus GAD-7 items 1–2 (GAD-2), with the same LOINC
item codes, so one set of answers scores every instrument it covers. A day's administration is the last
answer to each item on that local day.

LOINC codes (panel; total score; items in order):

| instrument | panel | total | items |
|---|---|---|---|
| PHQ-9 | 44249-1 | 44261-6 | 44250-9 44255-8 44259-0 44254-1 44251-7 44258-2 44252-5 44253-3 44260-8 (item 9) |
| PHQ-2 | 55757-9 | 55758-7 | 44250-9 44255-8 |
| GAD-7 | 69737-5 | 70274-6 | 69725-0 68509-9 69733-4 69734-2 69735-9 69689-8 69736-7 |
| PHQ-4 | 69724-3 | not verified | 44250-9 44255-8 69725-0 68509-9 |

PHQ-9 codes are from FIELD-NOTES (checked against the LOINC form). GAD-7 and PHQ-4 codes were checked
against several independent FHIR Questionnaires built from the LOINC forms; the order of GAD-7 items 6
and 7 (69689-8 "annoyed", 69736-7 "afraid") is the majority reading and does not change the total. No
PHQ-4 total-score code could be verified, so none is used.

Missing items: a PHQ-9 with at most 2 unanswered items is prorated (sum × 9 / answered, rounded half
up), as the PHQ instruction manual advises ("Instructions for Patient Health Questionnaire (PHQ) and
GAD-7 Measures", Pfizer); the wording could not be checked offline. GAD-7 is prorated with at most 1
missing item, the same completeness (≥ 7/9 of items) — a project convention, no published rule verified.
PHQ-2 and PHQ-4 need every item. Otherwise the total is NaN. Item 9 is reported whenever it was answered,
even when the total is not valid.

| feature | unit | definition |
|---|---|---|
| phq9_total | {score} | PHQ-9 total 0–27 (prorated as above) |
| phq9_band | 1 | PHQ-9 severity band 0–4 (0–4, 5–9, 10–14, 15–19, 20–27) |
| phq9_item9 | {score} | answer to PHQ-9 item 9 (thoughts of death or self-harm) |
| phq9_item9_positive | 1 | 1 when item 9 is above 0 |
| phq2_total | {score} | PHQ-2 total 0–6 |
| phq2_positive | 1 | 1 when PHQ-2 ≥ 3 |
| gad7_total | {score} | GAD-7 total 0–21 |
| gad7_band | 1 | GAD-7 severity band 0–3 (0–4, 5–9, 10–14, 15–21) |
| phq4_total | {score} | PHQ-4 total 0–12 |
| phq4_band | 1 | PHQ-4 band 0–3 (0–2, 3–5, 6–8, 9–12) |

`coverage_surveys` is the best completeness among the instruments that day (answered / items).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .rowstats import nan_sum

if TYPE_CHECKING:  # pandas only shapes the daily table; scoring answers on a device needs numpy alone
    import pandas as pd

_KROENKE_2001 = ("Kroenke K, Spitzer RL, Williams JBW (2001). The PHQ-9: validity of a brief depression "
                 "severity measure. Journal of General Internal Medicine 16(9):606–613.")
_SIMON_2013 = ("Simon GE, Rutter CM, Peterson D, et al. (2013). Does response on the PHQ-9 depression "
               "questionnaire predict subsequent suicide attempt or suicide death? Psychiatric Services "
               "64(12):1195–1202.")
_KROENKE_2003 = ("Kroenke K, Spitzer RL, Williams JBW (2003). The Patient Health Questionnaire-2: validity of a "
                 "two-item depression screener. Medical Care 41(11):1284–1292.")
_SPITZER_2006 = ("Spitzer RL, Kroenke K, Williams JBW, Löwe B (2006). A brief measure for assessing generalized "
                 "anxiety disorder: the GAD-7. Archives of Internal Medicine 166(10):1092–1097.")
_KROENKE_2009 = ("Kroenke K, Spitzer RL, Williams JBW, Löwe B (2009). An ultra-brief screening scale for anxiety "
                 "and depression: the PHQ-4. Psychosomatics 50(6):613–621.")

ITEM_MAX = 3


class SurveyError(ValueError):
    """A questionnaire answer is not a valid item score."""


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: LOINC panel and total codes, its item codes, bands and the missing-item rule."""

    key: str
    title: str
    panel: str
    total_code: str | None
    items: tuple[str, ...]
    bands: tuple[tuple[int, str], ...]
    max_missing: int = 0
    flagged: tuple[str, ...] = ()


PHQ9_ITEM9 = "44260-8"
PHQ9 = Instrument("phq9", "PHQ-9", "44249-1", "44261-6",
                  ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
                   PHQ9_ITEM9),
                  ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")),
                  max_missing=2, flagged=(PHQ9_ITEM9,))
PHQ2 = Instrument("phq2", "PHQ-2", "55757-9", "55758-7", PHQ9.items[:2], ((0, "negative"), (3, "positive")))
GAD7 = Instrument("gad7", "GAD-7", "69737-5", "70274-6",
                  ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
                  ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")), max_missing=1)
PHQ4 = Instrument("phq4", "PHQ-4", "69724-3", None, PHQ9.items[:2] + GAD7.items[:2],
                  ((0, "normal"), (3, "mild"), (6, "moderate"), (9, "severe")))
INSTRUMENTS = (PHQ9, PHQ2, GAD7, PHQ4)
ITEMS = tuple(dict.fromkeys(code for inst in INSTRUMENTS for code in inst.items))


@dataclass(frozen=True)
class Score:
    """One scored administration: total (NaN when not valid), band, completeness and flagged items."""

    instrument: str
    loinc: str
    total: float
    band: str
    band_index: float
    answered: int
    prorated: bool
    flagged_items: dict[str, int] = field(default_factory=dict)


def score(instrument: Instrument, answers: Mapping[str, float]) -> Score:
    """Score one administration of `instrument` from answers keyed by LOINC item code (others ignored)."""
    row = np.array([[float(answers.get(code, np.nan)) for code in instrument.items]])
    bad = np.flatnonzero(_invalid(row[0]))
    if len(bad):
        code = instrument.items[bad[0]]
        raise SurveyError(f"{instrument.title} item {code} has answer {answers[code]!r}; "
                          f"expected an integer score 0–{ITEM_MAX}")
    total, band, answered = _totals(instrument, row)
    index = float(band[0])
    flagged = {code: int(answers[code]) for code in instrument.flagged
               if code in answers and float(answers[code]) > 0}
    return Score(instrument=instrument.title, loinc=instrument.panel, total=float(total[0]),
                 band=instrument.bands[int(index)][1] if np.isfinite(index) else "", band_index=index,
                 answered=int(answered[0]), prorated=bool(np.isfinite(total[0]) and answered[0] < len(
                     instrument.items)), flagged_items=flagged)


def score_all(answers: Mapping[str, float]) -> list[Score]:
    """Every instrument that has at least one answered item among `answers`, scored."""
    return [score(inst, answers) for inst in INSTRUMENTS if any(code in answers for code in inst.items)]


def _invalid(values: np.ndarray) -> np.ndarray:
    """Mask of answers that are present but not an integer 0–3."""
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        return present & ~((values >= 0) & (values <= ITEM_MAX) & (values == np.round(values)))


def _totals(instrument: Instrument, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Totals (prorated per the instrument's rule, NaN when not valid), band indices and answered counts."""
    n = len(instrument.items)
    answered = np.isfinite(matrix).sum(axis=1)
    valid = (answered >= n - instrument.max_missing) & (answered > 0)
    raw = nan_sum(matrix, axis=1) * n / np.maximum(answered, 1)
    total = np.where(valid, np.floor(raw + 0.5), np.nan)
    lows = np.array([low for low, _ in instrument.bands])
    band = np.where(valid, np.searchsorted(lows, np.nan_to_num(total), side="right") - 1, np.nan)
    return total, band, answered


class SurveysFamily:
    """Daily questionnaire scores: PHQ-9 (with item 9 apart), PHQ-2, GAD-7 and PHQ-4."""

    name = "surveys"
    kinds: tuple[Kind, ...] = (Kind.SURVEY_RESPONSE,)
    features: tuple[Feature, ...] = (
        Feature("phq9_total", "{score}", "PHQ-9 total score 0–27, prorated when at most two items are missing.",
                _KROENKE_2001),
        Feature("phq9_band", "1", "PHQ-9 severity band 0–4 for totals 0–4, 5–9, 10–14, 15–19 and 20–27.",
                _KROENKE_2001),
        Feature("phq9_item9", "{score}", "Answer 0–3 to PHQ-9 item 9, thoughts of being better off dead or of "
                "self-harm.", _SIMON_2013),
        Feature("phq9_item9_positive", "1", "1 when the PHQ-9 item 9 answer is above 0, else 0.", _SIMON_2013),
        Feature("phq2_total", "{score}", "PHQ-2 total score 0–6 (PHQ-9 items 1 and 2).", _KROENKE_2003),
        Feature("phq2_positive", "1", "1 when the PHQ-2 total is 3 or more (positive depression screen).",
                _KROENKE_2003),
        Feature("gad7_total", "{score}", "GAD-7 total score 0–21, prorated when at most one item is missing.",
                _SPITZER_2006),
        Feature("gad7_band", "1", "GAD-7 severity band 0–3 for totals 0–4, 5–9, 10–14 and 15–21.",
                _SPITZER_2006),
        Feature("phq4_total", "{score}", "PHQ-4 total score 0–12 (PHQ-2 plus GAD-2).", _KROENKE_2009),
        Feature("phq4_band", "1", "PHQ-4 band 0–3 for totals 0–2, 3–5, 6–8 and 9–12.", _KROENKE_2009),
    )

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """One row per local day with answers to known items: every instrument's score that day."""
        from .daygroups import day_frame

        days, matrix = _answers(series)
        columns: dict[str, np.ndarray] = {}
        completeness = np.zeros(len(days))
        for inst in INSTRUMENTS:
            total, band, answered = _totals(inst, matrix[:, [ITEMS.index(code) for code in inst.items]])
            columns[f"{inst.key}_total"] = total
            columns[f"{inst.key}_band"] = band
            completeness = np.maximum(completeness, answered / len(inst.items))
        columns["phq2_positive"] = columns.pop("phq2_band")
        item9 = matrix[:, ITEMS.index(PHQ9_ITEM9)]
        columns["phq9_item9"] = item9
        columns["phq9_item9_positive"] = np.where(np.isfinite(item9), (item9 > 0).astype(float), np.nan)
        columns[coverage_column(self.name)] = completeness
        return day_frame(self, days, columns)


def _answers(series: Sequence[Series]) -> tuple[np.ndarray, np.ndarray]:
    """Local days with answers to known items, and a days × ITEMS matrix of each item's last answer that day."""
    import pandas as pd

    from .daygroups import day_codes

    parts = []
    for s in series:
        items = np.asarray(s.columns["item"]).astype(str)
        values = np.asarray(s.values, dtype=float)
        known = np.isin(items, ITEMS)
        bad = np.flatnonzero(known & _invalid(values))
        if len(bad):
            i = bad[0]
            when = np.datetime_as_string(s.time[i], unit="s")
            raise SurveyError(f"{s.subject} ({s.source}): survey item {items[i]} at {when} UTC has answer "
                              f"{float(values[i])}; expected an integer score 0–{ITEM_MAX}")
        parts.append(pd.DataFrame({"local": s.local_time()[known], "item": items[known], "value": values[known]}))
    table = pd.concat(parts, ignore_index=True).sort_values("local", kind="stable")
    table["day"] = table["local"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    table = table.drop_duplicates(["day", "item"], keep="last")
    days, codes = day_codes(table["local"].to_numpy(dtype="datetime64[ns]"))
    matrix = np.full((len(days), len(ITEMS)), np.nan)
    matrix[codes, [ITEMS.index(i) for i in table["item"]]] = table["value"].to_numpy(dtype=float)
    return days, matrix
