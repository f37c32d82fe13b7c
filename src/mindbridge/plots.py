"""Pictures a person would rather look at than read: actograms with the daily biomarkers beneath them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .datapoints import Series

PANELS = (("sleep_total", "sleep (h)", 1 / 60), ("sleep_midpoint", "sleep midpoint (h)", 1.0),
          ("relative_amplitude", "relative amplitude", 1.0), ("interdaily_stability_7d", "IS (7 d)", 1.0))


def actogram(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """Mean activity per (local day, hour): a days × 24 matrix (NaN where no data) and its days."""
    local = series.local_time()
    days = local.astype("datetime64[D]")
    hours = (local - days).astype("timedelta64[h]").astype(int)
    uniq, day_idx = np.unique(days, return_inverse=True)
    total = np.zeros((len(uniq), 24))
    count = np.zeros((len(uniq), 24))
    np.add.at(total, (day_idx, hours), series.values.astype(float))
    np.add.at(count, (day_idx, hours), 1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / count, np.nan), uniq


def biomarker_overview(subjects: Mapping[str, tuple[Series, pd.DataFrame]], path: Path, title: str) -> Path:
    """One column per subject: the actogram on top, daily sleep and rhythm features beneath. Writes a PNG."""
    n = len(subjects)
    fig, axes = plt.subplots(1 + len(PANELS), n, figsize=(3.6 * n, 10), squeeze=False,
                             gridspec_kw={"height_ratios": [3] + [1] * len(PANELS)})
    for col, (label, (series, table)) in enumerate(subjects.items()):
        grid, days = actogram(series)
        ax = axes[0, col]
        ax.imshow(np.log1p(grid), aspect="auto", cmap="magma", interpolation="nearest",
                  extent=(0, 24, len(days), 0))
        ax.set_title(label, fontsize=10)
        ax.set_xticks([0, 6, 12, 18, 24])
        ax.set_xlabel("local hour")
        ax.set_ylabel("day of recording" if col == 0 else "")
        day_no = (table.index.to_numpy(dtype="datetime64[D]") - days[0]).astype(int)
        for row, (feature, name, scale) in enumerate(PANELS, start=1):
            ax = axes[row, col]
            if feature in table:
                ax.plot(day_no, table[feature].to_numpy(dtype=float) * scale, marker="o", ms=3, lw=1)
            ax.set_xlim(-0.5, len(days) - 0.5)
            ax.set_ylabel(name if col == 0 else "", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        axes[-1, col].set_xlabel("day of recording")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
