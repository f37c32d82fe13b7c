"""Daily activity, circadian and sleep extraction speed on all of Depresjon, side by side with pyActigraphy.

Data: Depresjon (Garcia-Ceja et al., ACM MMSys 2018), 55 subjects, every local day of every recording.
One core: numpy's own loops are single-threaded, and `threadpoolctl` limits BLAS/OpenMP pools to one
thread here; the reference runs with OMP/OpenBLAS/MKL/Numba threads set to 1. Best of N, interleaved,
with wall-clock and process CPU time (the machine is shared). Figures for mindbridge:
- core set: IS, IV, RA, L5, M10 over each whole recording (`recording_rhythm`, which takes a list of
  grids and handles them in one vectorised pass) and Cole-Kripke labels with Webster rescoring, one
  subject at a time, from recordings already laid on their epoch grids (pyActigraphy is likewise timed
  on recordings already built, in `.venv-ref`); `core, per subject` calls `recording_rhythm` once per
  subject instead;
- family columns: every feature of the three families as numpy columns, from the same grids;
- families from series: `Family.daily` of the three families from canonical series (local time, grid,
  non-wear, every feature, the pandas table); each run starts from fresh series objects, so the grid
  the three families share is built anew every time.
The reference run also checks equal results (tests/reference/pyactigraphy_compare.py definitions).
"""

from __future__ import annotations

import copy

from tests.reference.pyactigraphy_compare import (
    REFERENCE_PYTHON,
    agreement,
    clock_hour_grid,
    compute_ours,
    run_reference,
)
from threadpoolctl import threadpool_limits

from benchmarks.common import compare, depresjon_dir
from mindbridge.biomarkers.activity import ActivityFamily, activity_columns
from mindbridge.biomarkers.circadian import CircadianFamily, circadian_columns, recording_rhythm
from mindbridge.biomarkers.epochs import EpochGrid, epoch_grid
from mindbridge.biomarkers.sleep import SleepFamily, sleep_columns
from mindbridge.biomarkers.sleep_scoring import score_epochs
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy

REPEAT = 7
REFERENCE_REPEAT = 3


def core_set(grids: list[EpochGrid]) -> None:
    """IS, IV, RA, L5, M10 over each whole recording and Cole-Kripke labels with Webster rescoring."""
    recording_rhythm(grids)
    for grid in grids:
        score_epochs(grid.filled, grid.worn, grid.epoch_s, "cole-kripke", scale=1.0)


def family_columns(grid: EpochGrid) -> None:
    """Every feature of the activity, circadian and sleep families as numpy columns."""
    activity_columns(grid)
    circadian_columns(grid)
    sleep_columns(grid, "cole-kripke", 1.0)


def main() -> None:
    """Print patient-days per second for mindbridge and pyActigraphy, their ratio, and the agreement."""
    files = sorted(depresjon_dir().glob("*/*.csv"))
    if len(files) != 55:
        print(f"skipped: the 55 Depresjon CSV files are not at {depresjon_dir()}")
        return
    series = [DepresjonActigraphy().read(f, ReadContext()).series[0] for f in files]
    families = (ActivityFamily(), CircadianFamily(), SleepFamily())
    with threadpool_limits(limits=1):
        grids = [epoch_grid(s) for s in series]
        days = sum(g.n_days for g in grids)
        t = compare({
            "core": lambda: core_set(grids),
            "core_each": lambda: [core_set([g]) for g in grids],
            "columns": lambda: [family_columns(g) for g in grids],
            "series": lambda: [f.daily([fresh]) for fresh in map(copy.copy, series) for f in families],
        }, repeat=REPEAT)
    print(f"Depresjon: {len(files)} subjects, {days} patient-days (every local day with data); one core; "
          f"best of {REPEAT}")
    rows = (("core", "mindbridge core set (IS, IV, RA, L5, M10, Cole-Kripke + Webster)"),
            ("core_each", "mindbridge core set, recording_rhythm called per subject      "),
            ("columns", "mindbridge activity + circadian + sleep columns from grids    "),
            ("series", "mindbridge activity + circadian + sleep tables from series    "))
    for key, label in rows:
        print(f"{label} wall {t[key].wall:.4f} s ({days / t[key].wall:,.0f} patient-days/s)  "
              f"CPU {t[key].cpu:.4f} s ({days / t[key].cpu:,.0f} patient-days/s)")
    if not REFERENCE_PYTHON.exists():
        print(f"pyActigraphy: skipped, no reference environment at {REFERENCE_PYTHON} (make reference-env)")
        return
    reference = run_reference(files, repeat=REFERENCE_REPEAT)
    ref_wall, ref_cpu = float(reference["seconds"]), float(reference["cpu_seconds"])
    agreed = [agreement(compute_ours(*clock_hour_grid(f)), reference["files"][str(f)]) for f in files]
    print(f"pyActigraphy 1.2.2 (IS, IV, RA, L5, M10, Cole-Kripke), best of {REFERENCE_REPEAT}:       "
          f"wall {ref_wall:.3f} s ({days / ref_wall:,.0f} patient-days/s)  "
          f"CPU {ref_cpu:.3f} s ({days / ref_cpu:,.0f} patient-days/s)")
    print(f"speed-up of the core set: {ref_wall / t['core'].wall:,.0f}x wall, {ref_cpu / t['core'].cpu:,.0f}x CPU")
    print(f"equal results: IS/IV/RA/L5/M10 worst relative difference {max(a.worst_relative for a in agreed):.1e}; "
          f"Cole-Kripke labels equal on {sum(a.equal for a in agreed):,} of {sum(a.minutes for a in agreed):,} "
          f"minutes, {sum(a.ties for a in agreed)} exact ties (D = 1) scored the other way by rounding, "
          f"{sum(a.disagreements for a in agreed)} disagreements")
