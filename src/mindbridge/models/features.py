"""Which daily feature-table columns the actigraphy risk model reads, and which days it may use.

The model input is one row per (subject, local day) of the daily feature table. Count-scale features are
log-transformed (`log1p`) because their spread grows with their level; everything else is used as is.
Whole-recording features (`*_recording`, recording-wide IS/IV) are left out: they would let days outside
the evaluated window leak into every day's row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..biomarkers.registry import FAMILIES

DAY_MINUTES = 1440

ACTIGRAPHY_FEATURES: tuple[str, ...] = (
    "activity_total", "activity_mean", "activity_sd", "activity_zero_fraction", "activity_nonwear", "activity_kra",
    "activity_kar",
    "m10", "m10_onset", "l5", "l5_onset", "relative_amplitude", "interdaily_stability_7d",
    "intradaily_variability_7d", "cosinor_mesor", "cosinor_amplitude", "cosinor_acrophase", "cosinor_r2",
    "sleep_onset", "sleep_offset", "sleep_midpoint", "sleep_total", "sleep_waso", "sleep_efficiency",
    "sleep_awakenings", "sleep_regularity_index",
)
LOG_SCALED = frozenset({"activity_total", "activity_mean", "activity_sd", "activity_nonwear", "m10", "l5",
                        "cosinor_mesor", "cosinor_amplitude"})


def feature_units() -> dict[str, tuple[str, str]]:
    """Every registered biomarker's (family, UCUM unit), keyed by column name."""
    return {f.name: (family.name, f.unit) for family in FAMILIES for f in family.features}


def check_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise a ValueError naming every model column missing from the table."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"feature table lacks column(s) the model needs: {', '.join(missing)}")


def model_inputs(table: pd.DataFrame, columns: Sequence[str] = ACTIGRAPHY_FEATURES) -> np.ndarray:
    """The model's input matrix: the chosen columns as float, count-scale ones as log1p; NaN stays NaN."""
    check_columns(table, columns)
    x = table[list(columns)].to_numpy(dtype=float, na_value=np.nan).copy()
    for j, name in enumerate(columns):
        if name in LOG_SCALED:
            x[:, j] = np.log1p(np.clip(x[:, j], 0.0, None))
    return x


def recorded_minutes(table: pd.DataFrame) -> pd.Series:
    """Minutes of each day that have a recorded epoch (worn or flagged non-wear)."""
    check_columns(table, ("coverage_activity", "activity_nonwear"))
    return table["coverage_activity"] * DAY_MINUTES + table["activity_nonwear"].fillna(0.0)


def study_days(table: pd.DataFrame, window: Mapping[str, int]) -> pd.DataFrame:
    """Each subject's first `window[subject]` complete days (1,440 recorded minutes), in date order.

    Subjects absent from `window` are dropped; days after the window (mostly non-wear in Depresjon) are
    never used.
    """
    complete = table[recorded_minutes(table).round() >= DAY_MINUTES].sort_values(["subject", "date"])
    limit = complete["subject"].map(window)
    keep = limit.notna() & (complete.groupby("subject").cumcount() < limit.fillna(0))
    return complete[keep].reset_index(drop=True)
