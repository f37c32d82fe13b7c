"""scikit-learn, ONNX and numpy-only predictors agree to 1e-6; artifacts are small and checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mindbridge.models.calibration import Platt, fold_into_logistic
from mindbridge.models.export import export_onnx, onnx_predict
from mindbridge.models.linear import CLOCK_CENTRES, LinearRisk, scale_inputs, sha256
from mindbridge.models.training import logistic_pipeline

NAMES = ("a", "b", "c", "d", "e")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, Path]:
    """A calibrated logistic pipeline on synthetic data with gaps, exported both ways."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 5)) * [1, 10, 100, 0.1, 1]
    y = (x[:, 0] + x[:, 1] / 10 + rng.normal(size=400) > 0).astype(int)
    x[rng.random(x.shape) < 0.1] = np.nan
    pipe = fold_into_logistic(logistic_pipeline(1.0).fit(x, y), Platt(0.8, -0.1))
    folder = tmp_path_factory.mktemp("artifact")
    return pipe, export_onnx(pipe, 5, folder / "model.onnx"), LinearRisk.from_pipeline(pipe, NAMES).save(
        folder / "model.json")


@settings(max_examples=20, deadline=None)
@given(x=arrays(np.float64, (7, 5), elements=st.one_of(st.just(np.nan), st.floats(-50, 50))))
def test_three_paths_give_the_same_probabilities(fitted: tuple, x: np.ndarray) -> None:
    pipe, onnx_file, json_file = fitted
    reference = pipe.predict_proba(x)[:, 1]
    np.testing.assert_allclose(onnx_predict(onnx_file, x), reference, atol=1e-6, rtol=0)
    np.testing.assert_allclose(LinearRisk.load(json_file).predict_proba(x), reference, atol=1e-6, rtol=0)


def test_artifact_is_small_and_hash_is_of_its_bytes(fitted: tuple) -> None:
    _, onnx_file, json_file = fitted
    assert onnx_file.stat().st_size < 100_000 and json_file.stat().st_size < 100_000
    digest = sha256(onnx_file)
    assert len(digest) == 64
    onnx_file.write_bytes(onnx_file.read_bytes())
    assert sha256(onnx_file) == digest != sha256(json_file)


def test_numpy_model_rejects_bad_files_and_rows(tmp_path: Path, fitted: tuple) -> None:
    _, _, json_file = fitted
    data = json.loads(json_file.read_text())
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**data, "format": "other"}))
    with pytest.raises(ValueError, match=r"wrong\.json.*not a mindbridge"):
        LinearRisk.load(wrong)
    wrong.write_text(json.dumps({**data, "scale": [1.0]}))
    with pytest.raises(ValueError, match="scale"):
        LinearRisk.load(wrong)
    with pytest.raises(ValueError, match="5 features"):
        LinearRisk.load(json_file).predict_proba(np.zeros((2, 3)))


def test_clock_inputs_are_unwrapped_around_their_centres() -> None:
    columns = ("l5_onset", "sleep_offset", "activity_mean", "sleep_total")
    x = np.array([[23.5, -11.5, 99.0, 420.0], [0.5, 11.5, np.nan, 400.0]])
    scaled = scale_inputs(x.copy(), columns)
    assert scaled[:, 0].tolist() == [-0.5, 0.5], "L5 onsets at 23:30 and 00:30 read an hour apart"
    assert scaled[:, 1].tolist() == [12.5, 11.5], "offsets at 12:30 and 11:30 too (centre 07:00)"
    assert scaled[0, 2] == pytest.approx(np.log1p(99.0)) and np.isnan(scaled[1, 2])
    assert scaled[:, 3].tolist() == [420.0, 400.0]
    assert all(abs(scaled[:, j] - CLOCK_CENTRES[c]).max() <= 12 for j, c in enumerate(columns[:2]))
