"""Prediction latency per row of the Depresjon risk model: scikit-learn vs ONNX Runtime vs numpy-only."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.bench_edge import DEPLOYED
from mindbridge.models.calibration import Platt, fold_into_logistic
from mindbridge.models.export import export_onnx
from mindbridge.models.linear import LinearRisk
from mindbridge.models.training import logistic_pipeline


def per_call(fn: Callable[[], object], calls: int = 2000) -> float:
    """Median seconds of one call over `calls` timed calls (after a warm-up)."""
    fn()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return float(np.median(times))


def main() -> None:
    """Fit a model of the deployed shape (`bench_edge.DEPLOYED`) on synthetic rows, export it, and time single-row
    and batch predictions."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    n = len(DEPLOYED)
    x = rng.normal(size=(700, n))
    y = (x[:, 0] + rng.normal(size=700) > 0).astype(int)
    pipe = fold_into_logistic(logistic_pipeline(1.0).fit(x, y), Platt(0.9, 0.1))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = export_onnx(pipe, n, Path(tmp) / "model.onnx")
        size = onnx_file.stat().st_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    numpy_model = LinearRisk.from_pipeline(pipe, DEPLOYED)
    print(f"model: {n} features, ONNX file {size:,} bytes (budget 100,000)")
    for rows in (1, 256):
        batch = x[:rows]
        batch32 = batch.astype(np.float32)
        t_sk = per_call(lambda b=batch: pipe.predict_proba(b), 500) / rows
        t_ox = per_call(lambda b=batch32: session.run(None, {"x": b})) / rows
        t_np = per_call(lambda b=batch: numpy_model.predict_proba(b)) / rows
        print(f"batch {rows:>3}: per row sklearn {t_sk * 1e6:8.2f} µs | ONNX {t_ox * 1e6:8.2f} µs "
              f"({t_ox / t_sk:.3f}× sklearn) | numpy {t_np * 1e6:8.2f} µs ({t_np / t_sk:.3f}× sklearn)")
