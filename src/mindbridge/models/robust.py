"""Personal-baseline vocabulary shared by the batch models and the edge (numpy only, no pandas).

Robust z = (value − median) / (1.4826 · MAD) over the trailing days, the day itself excluded (Leys et al.
2013, "Detecting outliers: do not use standard deviation around the mean, use absolute deviation around the
median"); clock features read "later/earlier", others "higher/lower".
"""

from __future__ import annotations

import numpy as np

MAD_TO_SD = 1.4826
CLOCK_FEATURES = frozenset({"sleep_onset", "sleep_offset", "sleep_midpoint", "m10_onset", "l5_onset",
                            "cosinor_acrophase"})
KEY_BIOMARKERS: tuple[str, ...] = ("sleep_midpoint", "sleep_total", "sleep_efficiency", "sleep_regularity_index",
                                   "activity_mean", "activity_zero_fraction", "relative_amplitude", "m10", "l5")



def describe(name: str, unit: str, value: float, median: float) -> str:
    """Plain words for one deviation, e.g. 'sleep midpoint 2.1 h later than this patient's usual'."""
    label = name.replace("_", " ")
    diff = value - median
    words = ("later", "earlier") if name in CLOCK_FEATURES else ("higher", "lower")
    direction = words[0] if diff > 0 else words[1]
    if unit == "min" and abs(diff) >= 90:
        return f"{label} {abs(diff) / 60:.1f} h {direction} than this patient's usual"
    if unit in ("h", "min"):
        return f"{label} {abs(diff):.1f} {unit} {direction} than this patient's usual"
    if median != 0 and np.isfinite(median):
        return f"{label} {abs(diff) / abs(median):.0%} {direction} than this patient's usual"
    return f"{label} {abs(diff):.3g} {direction} than this patient's usual"
