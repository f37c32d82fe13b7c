"""Which daily feature-table columns the actigraphy risk model reads, and which days it may use.

The day model's input is one row per (subject, local day) of the daily feature table: the activity,
circadian and sleep features (`ACTIGRAPHY_FEATURES`, what the edge computed first) plus the activity-profile
family (`PROFILE_FEATURES`). Clock times are unwrapped around each feature's centre (`linear.CLOCK_CENTRES`,
so the dial's cut lies where the feature does not occur). Count-scale features are log-transformed (`log1p`)
because their spread grows with their level; the profile features are already on a log scale; everything else
is used as is.
Whole-recording features (`*_recording`, recording-wide IS/IV) are left out: they would let days outside
the evaluated window leak into every day's row.

The person model's input is one row per subject: the median and the standard deviation of each day-model
input over the subject's days (`person_inputs`), i.e. the person's typical day and how much days vary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..biomarkers.activity_profile import FEATURES as PROFILE
from ..biomarkers.registry import FAMILIES
from ..biomarkers.rowstats import nan_mean_sd
from .context import complete_days
from .linear import scale_inputs

ACTIGRAPHY_FEATURES: tuple[str, ...] = (
    "activity_total", "activity_mean", "activity_sd", "activity_zero_fraction", "activity_nonwear", "activity_kra",
    "activity_kar",
    "m10", "m10_onset", "l5", "l5_onset", "relative_amplitude", "interdaily_stability_7d",
    "intradaily_variability_7d", "cosinor_mesor", "cosinor_amplitude", "cosinor_acrophase", "cosinor_r2",
    "sleep_onset", "sleep_offset", "sleep_midpoint", "sleep_total", "sleep_waso", "sleep_efficiency",
    "sleep_awakenings", "sleep_regularity_index",
)
PROFILE_FEATURES: tuple[str, ...] = tuple(f.name for f in PROFILE)
MODEL_FEATURES: tuple[str, ...] = ACTIGRAPHY_FEATURES + PROFILE_FEATURES
PERSON_STATISTICS = ("median", "sd")


def feature_units() -> dict[str, tuple[str, str]]:
    """Every registered biomarker's (family, UCUM unit), keyed by column name."""
    return {f.name: (family.name, f.unit) for family in FAMILIES for f in family.features}


def check_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise a ValueError naming every model column missing from the table."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"feature table lacks column(s) the model needs: {', '.join(missing)}")


def model_inputs(table: pd.DataFrame, columns: Sequence[str] = MODEL_FEATURES) -> np.ndarray:
    """The model's input matrix: the chosen columns as float, scaled by `linear.scale_inputs` (count-scale ones
    as log1p, clock times unwrapped around their centres); NaN stays NaN."""
    check_columns(table, columns)
    return scale_inputs(table[list(columns)].to_numpy(dtype=float, na_value=np.nan).copy(), columns)


def person_feature_names(columns: Sequence[str] = MODEL_FEATURES) -> tuple[str, ...]:
    """Names of the person model's inputs: `<feature>:median` then `<feature>:sd` for every day-model input."""
    return tuple(f"{c}:{stat}" for stat in PERSON_STATISTICS for c in columns)


def person_inputs(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per subject (sorted): median and sample sd (ddof 1) of each day-model input over its days, NaN ignored.

    Returns the subjects and a matrix `[medians | sds]`; a column with no value (or one, for the sd) is NaN.
    """
    subjects, index = np.unique(groups, return_inverse=True)
    out = np.full((len(subjects), 2 * x.shape[1]), np.nan)
    for k in range(len(subjects)):
        rows = x[index == k]
        used = (~np.isnan(rows)).any(axis=0)
        out[k, :x.shape[1]][used] = np.nanmedian(rows[:, used], axis=0)
        out[k, x.shape[1]:] = nan_mean_sd(rows, axis=0)[1]
    return subjects, out


def study_days(table: pd.DataFrame, window: Mapping[str, int]) -> pd.DataFrame:
    """Each subject's first `window[subject]` complete days (1,440 recorded minutes), in date order.

    Subjects absent from `window` are dropped; days after the window (mostly non-wear in Depresjon) are
    never used.
    """
    check_columns(table, ("coverage_activity", "activity_nonwear"))
    complete = table[complete_days(table["coverage_activity"].to_numpy(float),
                                   table["activity_nonwear"].to_numpy(float))].sort_values(["subject", "date"])
    limit = complete["subject"].map(window)
    keep = limit.notna() & (complete.groupby("subject").cumcount() < limit.fillna(0))
    return complete[keep].reset_index(drop=True)
