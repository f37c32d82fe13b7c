"""Voice prosody: YIN on synthesised tones and glides, pauses, syllable nuclei, jitter and shimmer with known
answers, and the daily family on real WAV files written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from mindbridge.biomarkers.base import coverage_column
from mindbridge.biomarkers.pitch import yin
from mindbridge.biomarkers.prosody import analyse
from mindbridge.biomarkers.voice import VoiceError, VoiceFamily, read_wav
from mindbridge.datapoints import Kind, Series

SR = 16_000


def tone(f0: float, seconds: float, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    """A pure sine at `f0` Hz."""
    return amplitude * np.sin(2 * np.pi * f0 * np.arange(round(seconds * sr)) / sr)


def cycles(periods: np.ndarray, amplitudes: np.ndarray, sr: int = SR) -> np.ndarray:
    """A cosine whose k-th cycle lasts periods[k] s and peaks (at its start) with amplitudes[k]."""
    bounds = np.concatenate(([0.0], np.cumsum(periods)))
    phase = np.interp(np.arange(int(bounds[-1] * sr)) / sr, bounds, np.arange(len(bounds)))
    level = amplitudes[np.clip(np.rint(phase).astype(int), 0, len(amplitudes) - 1)]
    return level * np.cos(2 * np.pi * phase)


def audio_series(paths: list[Path], times: list[str], tz: str = "UTC") -> Series:
    return Series("v1", Kind.AUDIO_FILE, "phone", tz, np.array(times, dtype="datetime64[ns]"),
                  {"path": np.array([str(p) for p in paths], dtype=object)})


def write(path: Path, signal: np.ndarray, sr: int = SR) -> Path:
    wavfile.write(path, sr, np.round(signal * 32767).astype(np.int16))
    return path


@settings(max_examples=25, deadline=None)
@given(f0=st.floats(70, 450), sr=st.sampled_from([8000, 16000, 22050, 44100]))
def test_yin_finds_the_frequency_of_a_pure_tone(f0: float, sr: int) -> None:
    track = yin(tone(f0, 0.5, sr), sr)
    assert np.isfinite(track.f0).all()
    assert np.median(track.f0) == pytest.approx(f0, rel=0.005)


def test_yin_follows_a_linear_glide() -> None:
    t = np.arange(2 * SR) / SR
    frequency = 100 + 50 * t  # 100 Hz -> 200 Hz over 2 s
    signal = np.sin(2 * np.pi * np.cumsum(frequency) / SR)
    track = yin(signal, SR)
    expected = 100 + 50 * track.centre_seconds
    assert np.nanmax(np.abs(track.f0 / expected - 1)) < 0.02


def test_yin_calls_silence_and_noise_unvoiced() -> None:
    assert np.isnan(yin(np.zeros(SR), SR).f0).all()
    noise = np.random.default_rng(1).normal(scale=0.3, size=SR)
    assert np.isnan(yin(noise, SR).f0).mean() > 0.95


def test_yin_rejects_a_search_range_outside_the_band() -> None:
    with pytest.raises(ValueError, match="fmin"):
        yin(tone(100, 0.2), SR, fmin=500, fmax=100)


def test_yin_on_a_recording_shorter_than_one_frame_is_empty() -> None:
    assert len(yin(np.ones(10), SR).f0) == 0


def test_jitter_and_shimmer_of_alternating_cycles() -> None:
    n, period, j, s = 300, 1 / 120, 0.02, 0.10
    alternate = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    p = analyse(cycles(period * (1 + j * alternate), 0.5 * (1 + s * alternate)), SR)
    # |T(1+j) - T(1-j)| / T = 2j and likewise 2s for amplitudes
    assert p.period_jumps.mean() / p.periods.mean() == pytest.approx(2 * j, rel=0.05)
    assert p.amplitude_jumps.mean() / p.amplitudes.mean() == pytest.approx(2 * s, rel=0.02)
    steady = analyse(cycles(np.full(n, period), np.full(n, 0.5)), SR)
    assert steady.period_jumps.mean() / steady.periods.mean() < 1e-4
    assert steady.amplitude_jumps.mean() / steady.amplitudes.mean() < 1e-4


def test_pauses_and_speaking_span_of_tone_bursts() -> None:
    burst, gap = tone(150, 1.0), np.zeros(SR // 2)
    p = analyse(np.concatenate([np.zeros(SR), burst, gap, burst, gap, burst, gap, burst, np.zeros(SR)]), SR)
    assert p.speech_span == pytest.approx(5.5, abs=0.05)  # 4 x 1 s speech + 3 x 0.5 s pauses
    assert p.pause_seconds == pytest.approx(1.5, abs=0.1)
    assert p.seconds == pytest.approx(7.5)


def test_short_gaps_are_not_pauses_and_each_syllable_is_one_nucleus() -> None:
    syllable = tone(180, 0.2) * np.hanning(round(0.2 * SR))
    gap = np.zeros(round(0.1 * SR))
    p = analyse(np.concatenate([syllable, gap] * 5), SR)
    assert p.nuclei == 5
    assert p.pause_seconds == 0.0


def test_intensity_spread_of_two_levels_six_db_apart() -> None:
    quiet, loud = tone(200, 1.0, amplitude=0.2), tone(200, 1.0, amplitude=0.4)
    p = analyse(np.concatenate([quiet, loud]), SR)
    assert p.intensity_db.std() == pytest.approx(20 * np.log10(2) / 2, abs=0.15)


def test_read_wav_scales_integer_and_stereo_files(tmp_path: Path) -> None:
    stereo = np.stack([np.full(100, 16384, np.int16), np.full(100, -16384, np.int16)], axis=1)
    wavfile.write(tmp_path / "s.wav", 8000, stereo)
    samples, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000 and samples.shape == (100,) and np.allclose(samples, 0.0)
    wavfile.write(tmp_path / "u.wav", 8000, np.full(10, 192, np.uint8))
    assert np.allclose(read_wav(tmp_path / "u.wav")[0], 0.5)


def test_missing_and_corrupt_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match=r"nowhere\.wav"):
        read_wav(tmp_path / "nowhere.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wave file at all")
    with pytest.raises(VoiceError, match=r"bad\.wav"):
        read_wav(bad)


def test_daily_pools_a_days_recordings_by_local_date(tmp_path: Path) -> None:
    a = write(tmp_path / "a.wav", tone(120, 2.0))
    b = write(tmp_path / "b.wav", tone(240, 2.0))
    c = write(tmp_path / "c.wav", np.zeros(SR))
    # 22:30 UTC is 00:30 the next day in Oslo (UTC+2 in summer)
    series = audio_series([a, b, c], ["2024-06-01T08:00", "2024-06-01T12:00", "2024-06-01T22:30"], "Europe/Oslo")
    table = VoiceFamily().daily([series])
    assert list(table.index.strftime("%Y-%m-%d")) == ["2024-06-01", "2024-06-02"]
    first, second = table.iloc[0], table.iloc[1]
    assert first["voice_f0_mean"] == pytest.approx(180, rel=0.01)
    assert first["voice_f0_range_semitones"] == pytest.approx(12, abs=0.1)
    assert first["voice_voiced_seconds"] == pytest.approx(4.0, abs=0.1)
    assert first[coverage_column("voice")] == 1.0
    assert np.isnan(second["voice_f0_mean"]) and second[coverage_column("voice")] == 0.0
    assert list(table.columns) == [f.name for f in VoiceFamily.features] + [coverage_column("voice")]


@settings(max_examples=8, deadline=None)
@given(days=st.integers(-400, 400), gain=st.floats(0.25, 1.0))
def test_daily_is_invariant_to_whole_day_shifts_and_gain(tmp_path_factory: pytest.TempPathFactory,
                                                         days: int, gain: float) -> None:
    folder = tmp_path_factory.mktemp("gain")
    burst = tone(160, 0.8) * (1 + 0.3 * np.sin(2 * np.pi * 3 * np.arange(round(0.8 * SR)) / SR))
    signal = np.concatenate([burst, np.zeros(SR // 2), burst])
    loud = write(folder / "loud.wav", signal * 0.9)
    soft = write(folder / "soft.wav", signal * 0.9 * gain)
    base = VoiceFamily().daily([audio_series([loud], ["2024-01-10T09:00"])])
    moved = np.datetime64("2024-01-10T09:00", "ns") + np.timedelta64(days, "D")
    shifted = VoiceFamily().daily([audio_series([soft], [str(moved)])])
    assert (shifted.index - base.index).days.tolist() == [days]
    np.testing.assert_allclose(shifted.to_numpy(), base.to_numpy(), rtol=0.02, atol=0.05)
