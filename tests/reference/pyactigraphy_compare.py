"""Both sides of the pyActigraphy cross-check: its figures from `.venv-ref`, ours with matching definitions.

Matching definitions: raw counts (pyActigraphy's binarize=False), sample variances (ddof=1) in IS and IV,
no non-wear masking, recordings cut to whole clock hours, Cole-Kripke on counts / 30 ("mean" setting,
mindbridge scale 1) without rescoring, compared on epochs whose 9-minute window is complete.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mindbridge.biomarkers.circadian import hourly_counts, lmx, relative_amplitude, stability_variability
from mindbridge.biomarkers.epochs import EpochGrid, epoch_grid
from mindbridge.biomarkers.sleep_scoring import score
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy

REPO = Path(__file__).resolve().parents[2]
REFERENCE_PYTHON = REPO / ".venv-ref" / "bin" / "python"
SCRIPT = Path(__file__).with_name("pyactigraphy_reference.py")


def run_reference(files: list[Path]) -> dict:
    """pyActigraphy's results for `files` (keys: `seconds`, `files` by path string)."""
    done = subprocess.run([str(REFERENCE_PYTHON), str(SCRIPT), *map(str, files)], capture_output=True,
                          text=True, check=True, timeout=600)
    return dict(json.loads(done.stdout))


@dataclass
class Ours:
    """mindbridge's figures for one recording under the reference's definitions."""

    start: np.datetime64
    metrics: dict[str, float]
    ck: np.ndarray


def clock_hour_grid(path: Path) -> tuple[EpochGrid, np.ndarray, int, int]:
    """A 1-minute grid without non-wear masking, cut to whole clock hours: grid, flat counts, start, stop."""
    series = DepresjonActigraphy().read(path, ReadContext()).series[0]
    grid = epoch_grid(series, 60, detect_nonwear=False)
    flat = grid.counts.ravel().copy()
    present = np.flatnonzero(~np.isnan(flat))
    start, stop = -(-int(present[0]) // 60) * 60, (int(present[-1]) + 1) // 60 * 60
    flat[:start] = np.nan
    flat[stop:] = np.nan
    return grid, flat, start, stop


def compute_ours(grid: EpochGrid, flat: np.ndarray, start: int, stop: int) -> Ours:
    """IS, IV, RA, L5, M10 and Cole-Kripke labels under the reference's definitions."""
    counts = flat.reshape(grid.counts.shape)
    stab, var = stability_variability(hourly_counts(counts, 60), grid.n_days, ddof=1)
    average_day = np.nanmean(counts, axis=0)
    m10, _ = lmx(average_day, 600, lowest=False)
    l5, _ = lmx(average_day, 300, lowest=True)
    ck = score(flat[start:stop], 60, "cole-kripke", scale=1.0, rescore=False).sleep
    metrics = {"IS": float(stab[-1]), "IV": float(var[-1]), "RA": float(relative_amplitude(m10, l5)[0]),
               "L5": float(l5[0]), "M10": float(m10[0])}
    return Ours(grid.first_day.astype("datetime64[m]") + np.timedelta64(start, "m"), metrics, ck)
