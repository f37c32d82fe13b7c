"""One-sort row quantiles agree with numpy's nanquantile."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mindbridge.biomarkers.rowstats import row_quantiles

values = st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))


@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=values),
       st.lists(st.floats(0, 1), min_size=1, max_size=4))
def test_matches_nanquantile(a: np.ndarray, qs: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanquantile(a, qs, axis=1)
    assert np.allclose(row_quantiles(a, qs), expected, equal_nan=True, rtol=1e-12, atol=1e-9)
