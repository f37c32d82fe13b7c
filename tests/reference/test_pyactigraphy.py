"""Cross-check on all of Depresjon against pyActigraphy (GPL), run in its own environment `.venv-ref`.

Tolerance: IS, IV, RA, L5 and M10 within a relative 1e-9 (float summation order only); Cole-Kripke
labels equal on every minute whose 9-minute window is complete in both, except exact ties (D = 1, a
weighted sum of exactly 30,000 counts), which the rule scores wake and pyActigraphy's rounding may not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyactigraphy_compare import REFERENCE_PYTHON, agreement, clock_hour_grid, compute_ours, run_reference

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REFERENCE_PYTHON.exists(),
                       reason=f"pyActigraphy reference environment absent ({REFERENCE_PYTHON}): "
                              "run `make reference-env`"),
]


def test_depresjon_agrees_with_pyactigraphy(depresjon_dir: Path) -> None:
    files = sorted(depresjon_dir.glob("*/*.csv"))
    assert len(files) == 55
    reference = run_reference(files)["files"]
    compared_minutes = ties = 0
    for path in files:
        ref = reference[str(path)]
        ours = compute_ours(*clock_hour_grid(path))
        assert ours.start == np.datetime64(ref["start"].replace(" ", "T")), path.name
        for name, value in ours.metrics.items():
            assert value == pytest.approx(ref[name], rel=1e-9), f"{path.name} {name}"
        assert len(ref["ck_defined"]) == len(ours.ck), path.name
        agreed = agreement(ours, ref)
        assert agreed.disagreements == 0, path.name
        compared_minutes += agreed.minutes
        ties += agreed.ties
    assert compared_minutes > 1_400_000
    assert ties <= 5  # exact ties are rare: one minute of Depresjon
