"""Fundamental frequency by YIN (de Cheveigné & Kawahara 2002), vectorised over whole recordings.

Steps 1–5 of the paper, computed for blocks of frames at once with FFTs:

1. frames of `window + max_lag` samples every `hop` seconds;
2. difference function d(τ) = Σ_j (x_j − x_{j+τ})² over the integration window, from the energy of the
   window, the energy of the lagged window (cumulative sums) and the cross-correlation (one FFT per frame);
3. cumulative mean normalised difference d'(τ) = d(τ) · τ / Σ_{k≤τ} d(k), with d'(0) = 1;
4. absolute threshold: the first local minimum of d' below `threshold` within [sr/fmax, sr/fmin];
   a frame with no such dip is unvoiced (F0 = NaN; the paper's fallback to the global minimum is not used,
   so aperiodic frames never get a spurious F0);
5. parabolic interpolation of d' around that minimum for a sub-sample period.

Step 6 (best local estimate) is omitted. The integration window is max(25 ms, one period of `fmin`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BLOCK_FRAMES = 512  # frames per FFT block: bounds memory to a few MB whatever the recording length


@dataclass(frozen=True)
class PitchTrack:
    """Frame-wise YIN output: start sample, F0 (Hz, NaN when unvoiced), periodicity and power."""

    start: np.ndarray
    f0: np.ndarray
    aperiodicity: np.ndarray
    power: np.ndarray
    sample_rate: int
    window: int
    hop: int

    @property
    def centre_seconds(self) -> np.ndarray:
        """Time of each frame's integration-window centre, in seconds from the recording's start."""
        return (self.start + self.window / 2) / self.sample_rate


def yin(signal: np.ndarray, sample_rate: int, *, fmin: float = 65.0, fmax: float = 500.0,
        hop_seconds: float = 0.01, threshold: float = 0.1) -> PitchTrack:
    """YIN F0 track of a mono signal; frames every `hop_seconds`, F0 searched in [fmin, fmax] Hz."""
    if not 0 < fmin < fmax < sample_rate / 4:
        raise ValueError(f"need 0 < fmin < fmax < sample_rate/4, got fmin={fmin}, fmax={fmax}, sr={sample_rate}")
    x = np.asarray(signal, dtype=float)
    min_lag = max(2, math.floor(sample_rate / fmax))
    max_lag = math.ceil(sample_rate / fmin)
    window = max(max_lag, round(0.025 * sample_rate))
    hop = max(1, round(hop_seconds * sample_rate))
    length = window + max_lag + 1
    if len(x) < length:
        empty = np.array([], dtype=float)
        return PitchTrack(np.array([], dtype=np.int64), empty, empty, empty, sample_rate, window, hop)
    frames = sliding_window_view(x, length)[::hop]
    parts = [_block(frames[i:i + BLOCK_FRAMES], window, min_lag, max_lag, threshold)
             for i in range(0, len(frames), BLOCK_FRAMES)]
    period, aperiodicity, power = (np.concatenate(p) for p in zip(*parts, strict=True))
    start = np.arange(len(frames), dtype=np.int64) * hop
    return PitchTrack(start, sample_rate / period, aperiodicity, power, sample_rate, window, hop)


def _block(frames: np.ndarray, window: int, min_lag: int, max_lag: int,
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_fft = 1 << (frames.shape[1] - 1).bit_length()
    spectrum = np.fft.rfft(frames, n_fft, axis=1)
    head = np.fft.rfft(frames[:, :window], n_fft, axis=1)
    corr = np.fft.irfft(np.conj(head) * spectrum, n_fft, axis=1)[:, :max_lag + 1]
    energy = np.zeros((frames.shape[0], frames.shape[1] + 1))
    np.cumsum(frames * frames, axis=1, out=energy[:, 1:])
    lagged = energy[:, window:window + max_lag + 1] - energy[:, :max_lag + 1]
    diff = np.maximum(energy[:, window:window + 1] + lagged - 2.0 * corr, 0.0)
    running = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    lags = np.arange(1, max_lag + 1)
    np.divide(diff[:, 1:] * lags, running, out=cmnd[:, 1:], where=running > 0)

    dips = cmnd[:, min_lag:max_lag + 1]
    inner = dips[:, 1:-1]
    candidate = (inner < threshold) & (inner <= dips[:, :-2]) & (inner <= dips[:, 2:])
    voiced = candidate.any(axis=1)
    lag = np.argmax(candidate, axis=1) + min_lag + 1
    rows = np.arange(len(lag))
    a, b, c = cmnd[rows, lag - 1], cmnd[rows, lag], cmnd[rows, lag + 1]
    curvature = a - 2.0 * b + c
    shift = np.divide(0.5 * (a - c), curvature, out=np.zeros_like(b), where=curvature > 0)
    period = np.where(voiced, lag + np.clip(shift, -1.0, 1.0), np.nan)
    aperiodicity = np.where(voiced, b, dips.min(axis=1))
    power = energy[:, window] / window
    return period, aperiodicity, power
