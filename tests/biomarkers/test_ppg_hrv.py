"""HRV from ECG/PPG waveforms (optional `hrv` extra): waveforms built from known beats, neurokit2's simulators."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.biomarkers.ppg_hrv import Waveform, beat_times, rr_series, waveform_hrv
from mindbridge.datapoints import Kind

RATE = 500


@pytest.fixture
def nk() -> ModuleType:
    """neurokit2, or a skip saying the optional extra is absent."""
    return pytest.importorskip("neurokit2", reason="the optional 'hrv' extra (neurokit2) is not installed")


def _bumps(beats: np.ndarray, shapes: list[tuple[float, float, float]], rate: int = RATE) -> np.ndarray:
    """A waveform of one beat template (amplitude, delay s, width s Gaussians) at each beat time, with noise."""
    n = int((beats[-1] + 1.0) * rate)
    idx = np.floor(beats * rate).astype(np.int64)[:, None] + np.arange(-rate, rate)[None, :]  # 1 s either side
    rel = idx / rate - beats[:, None]
    wave = sum(amp * np.exp(-0.5 * ((rel - delay) / width) ** 2) for amp, delay, width in shapes)
    inside = (idx >= 0) & (idx < n)
    x = np.bincount(idx[inside], np.broadcast_to(wave, idx.shape)[inside], minlength=n)
    return x + np.random.default_rng(7).normal(0.0, 0.01, n)


ECG_BEAT = [(-0.1, -0.04, 0.008), (1.0, 0.0, 0.01), (-0.2, 0.03, 0.01), (0.15, -0.16, 0.025), (0.3, 0.3, 0.05)]
PPG_BEAT = [(1.0, 0.15, 0.08), (0.4, 0.45, 0.1)]


def _beats(rr_ms: np.ndarray) -> np.ndarray:
    return np.r_[0.6, 0.6 + np.cumsum(rr_ms) / 1000.0]


def _formulas(rr: np.ndarray) -> tuple[float, float, float]:
    """Task Force RMSSD, SDNN (n - 1) and pNN50 of a clean RR sequence, written out plainly."""
    d = np.diff(rr)
    return float(np.sqrt(np.mean(d**2))), float(np.std(rr, ddof=1)), float(100 * np.mean(np.abs(d) > 50))


@pytest.mark.parametrize(("kind", "template"), [("ecg", ECG_BEAT), ("ppg", PPG_BEAT)])
def test_alternating_intervals_give_the_textbook_values(nk: ModuleType, kind: Waveform, template: list) -> None:
    rr = np.tile([950.0, 1050.0], 60)  # RMSSD 100 ms, pNN50 100 %, SDNN 50 ms (times sqrt(n / (n - 1)))
    x = _bumps(_beats(rr), template)
    found = beat_times(x, RATE, kind)
    assert len(found) == len(rr) + 1
    row = waveform_hrv(x, RATE, kind).iloc[0]
    rmssd, sdnn, pnn50 = _formulas(rr)
    assert row["hrv_rmssd"] == pytest.approx(rmssd, abs=4.0)  # beats are found within a sample or two (2-4 ms)
    assert row["hrv_sdnn"] == pytest.approx(sdnn, abs=2.0)
    assert row["hrv_pnn50"] == pnn50 == 100.0
    assert row["rr_rejected_fraction"] == 0.0


def test_breathing_modulated_intervals_match_the_formulas(nk: ModuleType) -> None:
    n = np.arange(150)
    rr = 850.0 + 60.0 * np.sin(2 * np.pi * n / 4.5)  # respiratory sinus arrhythmia, 4.5 beats a breath
    x = _bumps(_beats(rr), ECG_BEAT)
    row = waveform_hrv(x, RATE, "ecg").iloc[0]
    rmssd, sdnn, pnn50 = _formulas(rr)
    assert row["hrv_rmssd"] == pytest.approx(rmssd, rel=0.03)
    assert row["hrv_sdnn"] == pytest.approx(sdnn, rel=0.03)
    assert row["hrv_pnn50"] == pytest.approx(pnn50, abs=3.0)


def test_a_missed_beat_is_rejected_by_the_cardiac_rules(nk: ModuleType) -> None:
    rr = np.tile([950.0, 1050.0], 40)
    beats = np.delete(_beats(rr), 41)  # one beat lost: a 2000 ms interval
    row = waveform_hrv(_bumps(beats, ECG_BEAT), RATE, "ecg").iloc[0]
    assert row["rr_rejected_fraction"] == pytest.approx(1 / 79)
    assert row["hrv_rmssd"] == pytest.approx(100.0, abs=4.0)  # the long interval never enters a difference


@pytest.mark.parametrize("kind", ["ecg", "ppg"])
def test_neurokit_simulations_at_a_known_heart_rate(nk: ModuleType, kind: Waveform) -> None:
    if kind == "ecg":
        x = nk.ecg_simulate(duration=120, sampling_rate=250, heart_rate=75, heart_rate_std=0, random_state=3)
    else:
        x = nk.ppg_simulate(duration=120, sampling_rate=250, heart_rate=75, ibi_randomness=0, frequency_modulation=0,
                            motion_amplitude=0, powerline_amplitude=0, random_state=3)
    series = rr_series(x, 250, kind, start=np.datetime64("2024-05-02T08:00"), subject="p", tz="Europe/Oslo")
    assert series.kind is Kind.RR_INTERVAL and series.tz == "Europe/Oslo"
    assert 60_000 / np.median(series.values) == pytest.approx(75, abs=1.5)
    assert series.time[0] > np.datetime64("2024-05-02T08:00")
    row = waveform_hrv(x, 250, kind).iloc[0]
    assert row["hrv_pnn50"] < 5 and row["rr_rejected_fraction"] < 0.05


@settings(max_examples=10, deadline=None)
@given(st.floats(0.2, 50.0))
def test_hrv_does_not_depend_on_the_signal_scale(factor: float) -> None:
    pytest.importorskip("neurokit2", reason="the optional 'hrv' extra (neurokit2) is not installed")
    x = _bumps(_beats(np.tile([900.0, 1000.0, 1100.0], 20)), ECG_BEAT, rate=250)
    base = waveform_hrv(x, 250, "ecg")
    np.testing.assert_allclose(waveform_hrv(x * factor, 250, "ecg").to_numpy(), base.to_numpy(), rtol=1e-9)


def test_bad_waveforms_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'ecg' or 'ppg'"):
        beat_times(np.zeros(5000), 250, "eeg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too short"):
        beat_times(np.zeros(100), 250, "ecg")
    with pytest.raises(ValueError, match="finite"):
        beat_times(np.r_[np.zeros(5000), np.nan], 250, "ppg")
    with pytest.raises(ValueError, match="sampling_rate"):
        beat_times(np.zeros(5000), 0, "ppg")


def test_the_core_never_imports_neurokit2() -> None:
    code = ("import sys, mindbridge.biomarkers.table, mindbridge.biomarkers.ppg_hrv; "
            "assert 'neurokit2' not in sys.modules, 'neurokit2 imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
