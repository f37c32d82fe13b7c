"""Risk models: training, subject-disjoint evaluation, calibration, conformal sets, baselines, export, cards."""
