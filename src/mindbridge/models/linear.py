"""The numpy-only linear risk predictor and its JSON file: what devices run (no scikit-learn import).

p = sigmoid(w·z + b) with z = (x − mean) / scale after NaN → training median; docs/models.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FORMAT = "mindbridge-linear-risk/2"  # /2: clock features unwrapped around their centres (a /1 model read them raw)
PARAMS_FILE = "model.json"
# Count-scale features enter the model as log1p of their non-negative part.
LOG_SCALED = frozenset({"activity_total", "activity_mean", "activity_sd", "activity_nonwear", "m10", "l5",
                        "cosinor_mesor", "cosinor_amplitude"})


# Clock features (hours) enter unwrapped around a centre: moved by whole days to within 12 h of it, so the dial's
# cut lies opposite where the feature occurs and 23:30 and 00:30 are an hour apart, not 23 h. The centres are
# near each feature's circular median on Depresjon (L5 onset 01:16, M10 onset 10:10, acrophase 15:26, sleep
# onset 23:28, offset 08:34, midpoint 03:46); read raw, 48 % of L5 onsets and 23 % of sleep offsets lay within
# 1.5 h of their cut, and with these centres at most 2.6 % (sleep onset) lie within 1.5 h of it.
CLOCK_CENTRES = {"l5_onset": 3.0, "m10_onset": 9.0, "cosinor_acrophase": 15.0, "sleep_onset": 23.0,
                 "sleep_offset": 7.0, "sleep_midpoint": 3.0}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scale_inputs(x: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    """`x` (rows or one row over `columns`) as the model reads it, in place: `LOG_SCALED` columns as log1p, clock
    features unwrapped around their `CLOCK_CENTRES`; NaN stays NaN."""
    logged = np.array([name in LOG_SCALED for name in columns], dtype=bool)
    x[..., logged] = np.log1p(np.clip(x[..., logged], 0.0, None))
    for j, name in enumerate(columns):
        if name in CLOCK_CENTRES:
            centre = CLOCK_CENTRES[name]
            x[..., j] = centre + np.mod(x[..., j] - centre + 12.0, 24.0) - 12.0
    return x


@dataclass(frozen=True)
class LinearRisk:
    """The numpy-only predictor: median imputation, standardisation, logistic link."""

    features: tuple[str, ...]
    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class per row of x (NaN = missing)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected rows of {len(self.features)} features, got shape {x.shape}")
        z = (np.where(np.isnan(x), self.median, x) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.weights + self.intercept)))

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, features: tuple[str, ...]) -> LinearRisk:
        """Read the parameters of a fitted impute → scale → logistic pipeline."""
        impute, scale, logistic = (step for _, step in pipeline.steps)
        return cls(features, np.asarray(impute.statistics_, dtype=float), np.asarray(scale.mean_, dtype=float),
                   np.asarray(scale.scale_, dtype=float), np.asarray(logistic.coef_[0], dtype=float),
                   float(logistic.intercept_[0]))

    def save(self, path: Path) -> Path:
        """Write the parameters as JSON (floats in full precision)."""
        data = {"format": FORMAT, "features": list(self.features),
                "median": self.median.tolist(), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "intercept": self.intercept}
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> LinearRisk:
        """Read parameters written by `save`; a wrong format or length is a ValueError naming the file."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a mindbridge linear risk model (format {data.get('format')!r})")
        n = len(data["features"])
        arrays = {k: np.asarray(data[k], dtype=float) for k in ("median", "mean", "scale", "weights")}
        bad = [k for k, v in arrays.items() if v.shape != (n,)]
        if bad:
            raise ValueError(f"{path}: field(s) {', '.join(bad)} do not have {n} values")
        return cls(tuple(data["features"]), intercept=float(data["intercept"]), **arrays)
