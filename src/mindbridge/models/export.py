"""Model artifacts for the device: ONNX (skl2onnx) and a numpy-only JSON of the fitted parameters.

Both encode the same function of a feature row x (NaN for missing): impute NaN with the training median,
standardise z = (x − mean) / scale, then p = sigmoid(w·z + b). See docs/models.md for the layout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

ONNX_FILE, PARAMS_FILE, PERSON_FILE = "model.onnx", "model.json", "person.json"
OPSET = {"": 17, "ai.onnx.ml": 3}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_onnx(pipeline: Pipeline, n_features: int, path: Path) -> Path:
    """Write the fitted pipeline as ONNX (float input 'x' of shape [N, n_features]; outputs label, probabilities)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    model = to_onnx(pipeline, initial_types=[("x", FloatTensorType([None, n_features]))], target_opset=OPSET,
                    options={id(pipeline.steps[-1][1]): {"zipmap": False}})
    path.write_bytes(model.SerializeToString())
    return path


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
        data = {"format": "mindbridge-linear-risk/1", "features": list(self.features),
                "median": self.median.tolist(), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "intercept": self.intercept}
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> LinearRisk:
        """Read parameters written by `save`; a wrong format or length is a ValueError naming the file."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != "mindbridge-linear-risk/1":
            raise ValueError(f"{path}: not a mindbridge linear risk model (format {data.get('format')!r})")
        n = len(data["features"])
        arrays = {k: np.asarray(data[k], dtype=float) for k in ("median", "mean", "scale", "weights")}
        bad = [k for k, v in arrays.items() if v.shape != (n,)]
        if bad:
            raise ValueError(f"{path}: field(s) {', '.join(bad)} do not have {n} values")
        return cls(tuple(data["features"]), intercept=float(data["intercept"]), **arrays)


def onnx_predict(path: Path, x: np.ndarray) -> np.ndarray:
    """Probability of the positive class per row from an exported ONNX file (onnxruntime, one thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {"x": np.asarray(x, dtype=np.float32)})[1]
    return np.asarray(probabilities)[:, 1].astype(float)
