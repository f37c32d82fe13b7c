"""Language: tokenisation rules, the shipped word lists, and daily marker rates on texts built to known counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.language import LEXICONS, LanguageFamily, lexicon, marker_counts, tokens
from mindbridge.datapoints import Kind, Series


def texts(entries: list[tuple[str, str]], tz: str = "UTC") -> Series:
    times = np.array([t for t, _ in entries], dtype="datetime64[ns]")
    return Series("l1", Kind.FREE_TEXT, "journal", tz, times, {"text": np.array([x for _, x in entries], object)})


def test_tokens_fold_case_keep_contractions_and_drop_digits() -> None:
    assert tokens("I’M fine — Don't   WORRY: 42 well-being 😀 Ça va") == [
        "i'm", "fine", "don't", "worry", "well", "being", "ça", "va"]
    assert tokens("") == [] and tokens("123 ... !!!") == []


def test_shipped_lexicons_are_single_lower_case_tokens() -> None:
    absolutist = lexicon("absolutist")
    assert len(absolutist) == 19 and {"always", "never", "nothing", "completely"} <= absolutist
    assert {"i", "me", "my", "myself", "i'm"} <= lexicon("first_person_singular")
    assert {"sad", "afraid", "angry", "hopeless"} <= lexicon("negative_emotion")
    assert not lexicon("negative_emotion") & {"happy", "calm", "the"}


def test_marker_counts_of_a_built_sentence() -> None:
    counts = marker_counts("I always feel sad. My day was completely EMPTY, and I’m never calm.")
    # words: i always feel sad my day was completely empty and i'm never calm = 13
    assert counts == {"words": 13, "first_person_singular": 3, "absolutist": 3, "negative_emotion": 2}


def test_daily_rates_are_percent_of_the_days_words_by_local_day() -> None:
    series = texts([
        ("2024-02-01T07:00", "I am sad"),                       # 3 words: 1 fp, 0 abs, 1 neg
        ("2024-02-01T20:00", "Everything always goes wrong"),    # 4 words: 0 fp, 2 abs, 0 neg
        ("2024-02-01T23:30", "me"),                              # next local day in UTC+1
    ], tz="Europe/Paris")
    table = LanguageFamily().daily([series])
    assert list(table.index.strftime("%Y-%m-%d")) == ["2024-02-01", "2024-02-02"]
    day = table.iloc[0]
    assert day["language_words"] == 7 and day["language_entries"] == 2
    assert day["language_first_person_singular"] == pytest.approx(100 / 7)
    assert day["language_absolutist"] == pytest.approx(200 / 7)
    assert day["language_negative_emotion"] == pytest.approx(100 / 7)
    assert day[coverage_column("language")] == pytest.approx(0.07)
    assert table.iloc[1]["language_first_person_singular"] == 100.0


def test_a_day_without_words_has_nan_rates_and_zero_coverage() -> None:
    table = LanguageFamily().daily([texts([("2024-02-03T10:00", "123 :-) !!")])])
    row = table.iloc[0]
    assert row["language_words"] == 0 and row["language_entries"] == 1
    assert all(np.isnan(row[f"language_{n}"]) for n in LEXICONS)
    assert row[coverage_column("language")] == 0.0


def test_empty_series_gives_an_empty_correctly_shaped_table() -> None:
    empty = Series("l1", Kind.FREE_TEXT, "journal", "UTC", np.array([], "datetime64[ns]"),
                   {"text": np.array([], object)})
    table = LanguageFamily().daily([empty])
    assert table.empty and list(table.columns)[-1] == coverage_column("language")


words = st.sampled_from(["i", "me", "always", "never", "sad", "angry", "the", "walk", "sun", "coffee", "we"])


@settings(max_examples=50, deadline=None)
@given(chosen=st.lists(words, min_size=1, max_size=60), repeat=st.integers(1, 5), shift=st.integers(-1000, 1000))
def test_rates_are_invariant_to_repetition_and_day_shifts(chosen: list[str], repeat: int, shift: int) -> None:
    text = " ".join(chosen)
    base = LanguageFamily().daily([texts([("2024-03-01T12:00", text)])])
    later = str(np.datetime64("2024-03-01T12:00") + np.timedelta64(shift, "D"))
    copies = LanguageFamily().daily([texts([(later, text)] * repeat)])
    assert (copies.index - base.index).days.tolist() == [shift]
    for name in LEXICONS:
        col = f"language_{name}"
        assert copies[col].iloc[0] == pytest.approx(base[col].iloc[0])
        expected = 100 * sum(w in lexicon(name) for w in chosen) / len(chosen)
        assert base[col].iloc[0] == pytest.approx(expected)
    assert copies["language_words"].iloc[0] == repeat * len(chosen)
