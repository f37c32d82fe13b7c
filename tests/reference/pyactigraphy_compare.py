"""Both sides of the pyActigraphy cross-check: its figures from `.venv-ref`, ours with matching definitions.

Matching definitions: raw counts (pyActigraphy's binarize=False), sample variances (ddof=1) in IS and IV,
no non-wear masking, recordings cut to whole clock hours, Cole-Kripke on counts / 30 ("mean" setting,
mindbridge scale 1) without rescoring, compared on epochs whose 9-minute window is complete.

mindbridge decides Cole-Kripke's D < 1 on the exact weighted sum of the counts (sum < 30,000), so a
minute whose D is exactly 1 is wake; pyActigraphy computes 0.001 * dot(counts / 30, weights), whose
rounding can put such a tie on either side. Ties are reported apart from disagreements.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mindbridge.biomarkers.circadian import recording_rhythm
from mindbridge.biomarkers.epochs import EpochGrid, epoch_grid
from mindbridge.biomarkers.sleep_scoring import CK_THRESHOLD, cole_kripke_sums, score
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy

REPO = Path(__file__).resolve().parents[2]
REFERENCE_PYTHON = REPO / ".venv-ref" / "bin" / "python"
SCRIPT = Path(__file__).with_name("pyactigraphy_reference.py")


ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                      "NUMBA_NUM_THREADS")}


def run_reference(files: list[Path], repeat: int = 1) -> dict:
    """pyActigraphy's results for `files` on one thread (keys: `seconds`, `cpu_seconds`, `files` by path)."""
    done = subprocess.run([str(REFERENCE_PYTHON), str(SCRIPT), f"--repeat={repeat}", *map(str, files)],
                          capture_output=True, text=True, check=True, timeout=1200, env={**os.environ, **ONE_THREAD})
    return dict(json.loads(done.stdout))


@dataclass
class Ours:
    """mindbridge's figures for one recording under the reference's definitions."""

    start: np.datetime64
    metrics: dict[str, float]
    ck: np.ndarray
    ck_tie: np.ndarray


@dataclass(frozen=True)
class Agreement:
    """How one recording's figures compare with the reference's."""

    worst_relative: float
    minutes: int
    equal: int
    ties: int
    disagreements: int


def agreement(ours: Ours, ref: dict) -> Agreement:
    """Worst relative difference of IS/IV/RA/L5/M10 and Cole-Kripke label counts on defined minutes."""
    worst = max(abs(v - ref[k]) / abs(ref[k]) for k, v in ours.metrics.items())
    defined = np.asarray(ref["ck_defined"], dtype=bool)
    differ = defined & (ours.ck != np.asarray(ref["ck"]))
    ties = int(np.sum(differ & ours.ck_tie))
    return Agreement(worst, int(defined.sum()), int(defined.sum() - differ.sum()), ties, int(differ.sum()) - ties)


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
    cut = EpochGrid(grid.first_day, grid.epoch_s, counts, ~np.isnan(counts))
    rhythm = {k: float(v[0]) for k, v in recording_rhythm([cut], ddof=1).items()}
    ck = score(flat[start:stop], 60, "cole-kripke", scale=1.0, rescore=False).sleep
    tie = cole_kripke_sums(np.nan_to_num(flat[start:stop])) == CK_THRESHOLD
    metrics = {"IS": rhythm["interdaily_stability"], "IV": rhythm["intradaily_variability"],
               "RA": rhythm["relative_amplitude_recording"], "L5": rhythm["l5_recording"],
               "M10": rhythm["m10_recording"]}
    return Ours(grid.first_day.astype("datetime64[m]") + np.timedelta64(start, "m"), metrics, ck, tie)
