"""Daily activity, circadian and sleep extraction speed on all of Depresjon, side by side with pyActigraphy.

Data: Depresjon (Garcia-Ceja et al., ACM MMSys 2018), 55 subjects, every day of every recording.
Two figures for mindbridge, best of 3 runs on one core:
- core set: IS, IV, RA, L5, M10 and Cole-Kripke with Webster rescoring, from recordings already laid on
  their epoch grids (pyActigraphy is likewise timed on recordings already built, in `.venv-ref`);
- families: the full activity, circadian and sleep daily tables from canonical series (local time,
  grid, non-wear and every feature).
The reference run also checks equal results (tests/reference/pyactigraphy_compare.py definitions).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tests.reference.pyactigraphy_compare import REFERENCE_PYTHON, clock_hour_grid, compute_ours, run_reference

from mindbridge.biomarkers.activity import activity_table
from mindbridge.biomarkers.circadian import (
    circadian_table,
    hourly_counts,
    lmx,
    relative_amplitude,
    stability_variability,
)
from mindbridge.biomarkers.epochs import EpochGrid, epoch_grid
from mindbridge.biomarkers.sleep import sleep_table
from mindbridge.biomarkers.sleep_scoring import score
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "depresjon" / "data"


def core_set(grid: EpochGrid) -> None:
    """IS, IV, RA, L5, M10 over the recording and Cole-Kripke labels with rescoring."""
    counts = grid.masked()
    stability_variability(hourly_counts(counts, grid.epoch_s), grid.n_days)
    profile = np.nanmean(counts, axis=0)
    m10, _ = lmx(profile, 600 * 60 // grid.epoch_s, lowest=False)
    l5, _ = lmx(profile, 300 * 60 // grid.epoch_s, lowest=True)
    relative_amplitude(m10, l5)
    score(counts.ravel(), grid.epoch_s, "cole-kripke", scale=1.0)


def best_of(runs: int, work: Callable[[], None]) -> float:
    """Fastest wall time of `runs` calls."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    """Print patient-days per second for mindbridge and pyActigraphy, their ratio, and the agreement."""
    files = sorted(DATA.glob("*/*.csv"))
    if len(files) != 55:
        print(f"skipped: Depresjon not found at {DATA}")
        return
    series = [DepresjonActigraphy().read(f, ReadContext()).series[0] for f in files]
    grids = [epoch_grid(s) for s in series]
    days = sum(g.n_days for g in grids)
    core = best_of(3, lambda: [core_set(g) for g in grids] and None)

    def families() -> None:
        for s in series:
            grid = epoch_grid(s)
            activity_table(grid)
            circadian_table(grid)
            sleep_table(grid, "cole-kripke", 1.0)

    full = best_of(3, families)
    print(f"Depresjon: {len(files)} subjects, {days} patient-days (local days with data, all of them)")
    print(f"mindbridge core set (IS, IV, RA, L5, M10, Cole-Kripke + Webster): {core:.3f} s, "
          f"{days / core:,.0f} patient-days/s")
    print(f"mindbridge activity + circadian + sleep families from series:   {full:.3f} s, "
          f"{days / full:,.0f} patient-days/s")
    if not REFERENCE_PYTHON.exists():
        print(f"pyActigraphy: skipped, no reference environment at {REFERENCE_PYTHON} (make reference-env)")
        return
    reference = run_reference(files)
    ref_s = float(reference["seconds"])
    worst = 0.0
    ck_equal = 0
    ck_total = 0
    for f in files:
        ref = reference["files"][str(f)]
        ours = compute_ours(*clock_hour_grid(f))
        worst = max(worst, *(abs(v - ref[k]) / abs(ref[k]) for k, v in ours.metrics.items()))
        defined = np.asarray(ref["ck_defined"], dtype=bool)
        ck_equal += int(np.sum(ours.ck[defined] == np.asarray(ref["ck"])[defined]))
        ck_total += int(defined.sum())
    print(f"pyActigraphy 1.2.2 (IS, IV, RA, L5, M10, Cole-Kripke):           {ref_s:.3f} s, "
          f"{days / ref_s:,.0f} patient-days/s")
    print(f"speed-up of the core set: {ref_s / core:,.0f}x; equal results: IS/IV/RA/L5/M10 worst relative "
          f"difference {worst:.1e}, Cole-Kripke labels equal on {ck_equal:,} of {ck_total:,} minutes")
