"""Metrics stay defined on the samples a subject bootstrap can draw."""

from __future__ import annotations

import numpy as np

from mindbridge.models.evaluation import binary_metrics


def test_metrics_of_a_single_class_sample_are_nan_not_an_error() -> None:
    m = binary_metrics(np.zeros(5, dtype=int), np.linspace(0.1, 0.9, 5))
    assert m["accuracy"] == 0.4 and np.isnan(m["auroc"]) and m["mcc"] == 0.0
    assert np.isnan(m["auprc"]) and m["balanced_accuracy"] == 0.4
