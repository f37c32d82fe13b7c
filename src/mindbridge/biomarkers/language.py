"""Language family: lexical markers of journal or EMA free text (FREE_TEXT series), on the device, pure Python.

Tokenisation (`tokens`): Unicode NFKC normalisation, case folding, typographic apostrophes (’ ‘ ʼ)
turned into ', then every maximal run of letters, optionally joined by single internal apostrophes, is
one word ("I'm" is one token, "don't" one, "well-being" two, digits and emoji are not words). A marker
rate is the share of the day's words found in a word list under `lexicons/` (exact tokens, no stemming,
no negation handling), in percent as in the LIWC tradition (Tausczik & Pennebaker 2010).

| feature | unit | definition |
|---|---|---|
| language_words | {words} | words written that day |
| language_entries | {entries} | free-text entries written that day |
| language_first_person_singular | % | first-person singular pronouns per 100 words |
| language_absolutist | % | absolutist words (Al-Mosaiwi & Johnstone 2018) per 100 words |
| language_negative_emotion | % | negative-emotion words per 100 words |

`coverage_language` is min(1, words / 100): a day with 100 words or more is fully covered. Rates are NaN
on days without words. Sentence embeddings of the same text are the optional `embeddings` module (`EmbeddingFamily`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd
import yaml

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .daygroups import day_codes, day_frame, pooled

FULL_COVERAGE_WORDS = 100
LEXICONS = ("first_person_singular", "absolutist", "negative_emotion")

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})

_RUDE = ("Rude SS, Gortner EM, Pennebaker JW (2004). Language use of depressed and depression-vulnerable "
         "college students. Cognition and Emotion 18(8):1121–1133.")
_ALMOSAIWI = ("Al-Mosaiwi M, Johnstone T (2018). In an absolute state: elevated use of absolutist words is a "
              "marker specific to anxiety, depression, and suicidal ideation. Clinical Psychological Science "
              "6(4):529–542.")
_SHAVER = ("Shaver P, Schwartz J, Kirson D, O'Connor C (1987). Emotion knowledge: further exploration of a "
           "prototype approach. Journal of Personality and Social Psychology 52(6):1061–1086.")
_TAUSCZIK = ("Tausczik YR, Pennebaker JW (2010). The psychological meaning of words: LIWC and computerized "
             "text analysis methods. Journal of Language and Social Psychology 29(1):24–54.")


class LexiconError(ValueError):
    """A word list under `lexicons/` is malformed."""


@functools.cache
def lexicon(name: str) -> frozenset[str]:
    """The words of one shipped word list, checked to be non-empty lower-case single tokens."""
    path = resources.files(__package__).joinpath("lexicons", f"{name}.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    words = data.get("words") if isinstance(data, dict) else None
    if not words or not all(isinstance(w, str) for w in words):
        raise LexiconError(f"lexicons/{name}.yaml: field 'words' must be a non-empty list of strings")
    bad = [w for w in words if tokens(w) != [w]]
    if bad:
        raise LexiconError(f"lexicons/{name}.yaml: entries that are not one lower-case token: {bad}")
    if not data.get("source"):
        raise LexiconError(f"lexicons/{name}.yaml: field 'source' (the citation) is missing")
    return frozenset(words)


def tokens(text: str) -> list[str]:
    """The words of `text` after normalisation, as documented in the module docstring."""
    folded = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    return _WORD.findall(folded)


def marker_counts(text: str) -> dict[str, int]:
    """Word count and the number of words from each lexicon in one text."""
    words = tokens(text)
    counts = {"words": len(words)}
    for name in LEXICONS:
        vocabulary = lexicon(name)
        counts[name] = sum(w in vocabulary for w in words)
    return counts


class LanguageFamily:
    """Daily lexical markers of free text: first-person singular, absolutist and negative-emotion rates."""

    name = "language"
    kinds: tuple[Kind, ...] = (Kind.FREE_TEXT,)
    features: tuple[Feature, ...] = (
        Feature("language_words", "{words}", "Number of words written that day.", _TAUSCZIK),
        Feature("language_entries", "{entries}", "Number of free-text entries written that day.", _TAUSCZIK),
        Feature("language_first_person_singular", "%",
                "First-person singular pronouns (I, me, my, mine, myself and contractions) per 100 words.", _RUDE),
        Feature("language_absolutist", "%", "Words from the 19-word absolutist dictionary per 100 words.",
                _ALMOSAIWI),
        Feature("language_negative_emotion", "%",
                "Negative-emotion words (sadness, fear and anger names and their forms) per 100 words.", _SHAVER),
    )

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """One row per local day with text: word counts and marker rates over the day's entries."""
        local, texts = pooled(series, "text")
        days, codes = day_codes(local)
        if not len(texts):
            return day_frame(self, days, {})
        counts = [marker_counts(str(t)) for t in texts]
        totals = {key: np.bincount(codes, weights=[c[key] for c in counts], minlength=len(days))
                  for key in ("words", *LEXICONS)}
        words = totals["words"]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = {name: np.where(words > 0, 100.0 * totals[name] / words, np.nan) for name in LEXICONS}
        return day_frame(self, days, {
            "language_words": words,
            "language_entries": np.bincount(codes, minlength=len(days)),
            "language_first_person_singular": rate["first_person_singular"],
            "language_absolutist": rate["absolutist"],
            "language_negative_emotion": rate["negative_emotion"],
            coverage_column(self.name): np.minimum(1.0, words / FULL_COVERAGE_WORDS),
        })
