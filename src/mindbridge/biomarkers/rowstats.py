"""Per-row order statistics of a NaN-padded matrix in one sort (numpy's nan-quantiles loop over rows)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def row_quantiles(a: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles `qs` (0–1) of every row of `a`, NaNs ignored, linear interpolation as `np.nanquantile`'s
    default; shape `(len(qs), rows)`, NaN for a row without values."""
    ordered = np.sort(a, axis=1)  # NaNs sort last
    n = np.count_nonzero(~np.isnan(a), axis=1)
    out = np.full((len(qs), a.shape[0]), np.nan)
    rows = np.flatnonzero(n > 0)
    if not len(rows):
        return out
    for k, q in enumerate(qs):
        pos = (n[rows] - 1) * q
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n[rows] - 1)
        low, high = ordered[rows, lo], ordered[rows, hi]
        out[k, rows] = low + (high - low) * (pos - lo)
    return out
