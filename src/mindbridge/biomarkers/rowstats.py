"""Row statistics of NaN-padded matrices in few numpy calls: order statistics in one sort (numpy's nan-quantiles
loop over rows), NaN-ignoring sums without `np.nansum`'s Python layers (the edge computes a day's features with
a few hundred such calls, so their overhead, not their arithmetic, sets its CPU time)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def nan_sum(a: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    """`np.nansum(a, axis)` bit for bit on float arrays (the only kind it takes): NaN read as 0, then one reduction."""
    return np.where(np.isnan(a), 0.0, a).sum(axis=axis, keepdims=keepdims)


def nan_mean_sd(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Means and sample sds (ddof 1) along `axis` of a float array, NaN ignored; NaN without a value (sd: two)."""
    present = (~np.isnan(a)).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = nan_sum(a, axis=axis) / present
        sd = np.sqrt(nan_sum((a - np.expand_dims(mean, axis)) ** 2, axis=axis) / (present - 1))
    return mean, np.where(present > 1, sd, np.nan)


def row_quantiles(a: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles `qs` (0–1) of every row of `a`, NaNs ignored, linear interpolation as `np.nanquantile`'s
    default; shape `(len(qs), rows)`, NaN for a row without values."""
    ordered = a.copy()
    ordered.sort(axis=1)  # NaNs sort last
    n = (~np.isnan(a)).sum(axis=1)
    out = np.full((len(qs), a.shape[0]), np.nan)
    rows = (n > 0).nonzero()[0]
    if not len(rows):
        return out
    last = n[rows] - 1
    pos = last * np.array(qs, dtype=float)[:, None]  # (quantiles, rows), all quantiles at once
    lo = np.floor(pos).astype(int)
    low, high = ordered[rows, lo], ordered[rows, np.minimum(lo + 1, last)]
    out[:, rows] = low + (high - low) * (pos - lo)
    return out
