"""Model artifacts for the device: ONNX (skl2onnx) and a numpy-only JSON of the fitted parameters.

Both encode the same function of a feature row x (NaN for missing): impute NaN with the training median,
standardise z = (x − mean) / scale, then p = sigmoid(w·z + b). See docs/models.md for the layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

ONNX_FILE, PERSON_FILE = "model.onnx", "person.json"
OPSET = {"": 17, "ai.onnx.ml": 3}


def export_onnx(pipeline: Pipeline, n_features: int, path: Path) -> Path:
    """Write the fitted pipeline as ONNX (float input 'x' of shape [N, n_features]; outputs label, probabilities)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    model = to_onnx(pipeline, initial_types=[("x", FloatTensorType([None, n_features]))], target_opset=OPSET,
                    options={id(pipeline.steps[-1][1]): {"zipmap": False}})
    path.write_bytes(model.SerializeToString())
    return path


def onnx_predict(path: Path, x: np.ndarray) -> np.ndarray:
    """Probability of the positive class per row from an exported ONNX file (onnxruntime, one thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {"x": np.asarray(x, dtype=np.float32)})[1]
    return np.asarray(probabilities)[:, 1].astype(float)
