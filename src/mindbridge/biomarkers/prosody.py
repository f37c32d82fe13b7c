"""Prosody of one voice recording: what it contributes to a day's voice features.

All on the YIN frame grid (`pitch.yin`, 10 ms hop):

- intensity: 10·log10 of each frame's mean-square amplitude (dB relative to full scale);
- speech frames: intensity above both (99th percentile − 25 dB) and an absolute floor of −70 dBFS,
  the relative silence threshold of de Jong & Wempe (2009);
- pauses: runs of non-speech frames of at least 0.25 s between the first and last speech frame;
- syllable nuclei (speech-rate proxy): intensity peaks standing at least 2 dB above the surrounding dips
  (de Jong & Wempe 2009) in voiced speech frames;
- glottal cycles (jitter/shimmer): waveform maxima at least 0.7 of the shortest period apart, refined by
  parabolic interpolation, kept when they fall in voiced frames and the interval between two of them is
  within 30 % of the YIN period there; consecutive cycle pairs whose periods differ by less than a factor
  1.3 (Praat's default "maximum period factor") give |T_i − T_{i+1}| and |A_i − A_{i+1}| with their means
  (A is the interpolated maximum that ends each cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from .pitch import PitchTrack, yin

SILENCE_BELOW_PEAK_DB = 25.0
SILENCE_FLOOR_DB = -70.0
MIN_PAUSE_SECONDS = 0.25
NUCLEUS_DIP_DB = 2.0
PERIOD_TOLERANCE = 0.3
MAX_PERIOD_FACTOR = 1.3


@dataclass(frozen=True)
class Prosody:
    """One recording's pooled prosodic material; days combine recordings by concatenating and summing."""

    seconds: float
    voiced_seconds: float
    f0: np.ndarray
    intensity_db: np.ndarray
    speech_span: float
    pause_seconds: float
    nuclei: int
    periods: np.ndarray
    period_jumps: np.ndarray
    amplitudes: np.ndarray
    amplitude_jumps: np.ndarray


def analyse(signal: np.ndarray, sample_rate: int) -> Prosody:
    """Prosodic material of one mono recording (samples in [-1, 1])."""
    x = np.asarray(signal, dtype=float)
    x = x - x.mean() if len(x) else x
    track = yin(x, sample_rate, hop_seconds=0.01)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(track.power)
    speech = _speech_frames(db)
    voiced = speech & np.isfinite(track.f0)
    span, pause = _pauses(speech, track.hop / sample_rate)
    periods, period_jumps, amplitudes, amplitude_jumps = _cycles(x, track, voiced)
    return Prosody(seconds=len(x) / sample_rate, voiced_seconds=float(voiced.sum()) * track.hop / sample_rate,
                   f0=track.f0[voiced], intensity_db=db[speech],
                   speech_span=span, pause_seconds=pause, nuclei=_nuclei(db, voiced),
                   periods=periods, period_jumps=period_jumps,
                   amplitudes=amplitudes, amplitude_jumps=amplitude_jumps)


def _speech_frames(db: np.ndarray) -> np.ndarray:
    finite = db[np.isfinite(db)]
    if not len(finite):
        return np.zeros(len(db), dtype=bool)
    threshold = max(float(np.percentile(finite, 99)) - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DB)
    return db > threshold


def _pauses(speech: np.ndarray, hop: float) -> tuple[float, float]:
    """Seconds from the first to the last speech frame, and seconds of pauses inside that span."""
    where = np.flatnonzero(speech)
    if not len(where):
        return 0.0, 0.0
    inside = ~speech[where[0]:where[-1] + 1]
    edges = np.diff(np.concatenate(([0], inside.astype(np.int8), [0])))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    long = runs[runs * hop >= MIN_PAUSE_SECONDS]
    return (where[-1] - where[0] + 1) * hop, float(long.sum() * hop)


def _nuclei(db: np.ndarray, voiced: np.ndarray) -> int:
    if not voiced.any():
        return 0
    level = np.where(np.isfinite(db), db, SILENCE_FLOOR_DB - 30.0)
    peaks, _ = find_peaks(level, prominence=NUCLEUS_DIP_DB)
    return int(voiced[peaks].sum())


def _cycles(x: np.ndarray, track: PitchTrack,
            voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    none = np.array([], dtype=float)
    if voiced.sum() < 2:
        return none, none, none, none
    sr = track.sample_rate
    shortest = sr / float(np.nanmax(track.f0[voiced]))
    peaks, _ = find_peaks(x, distance=max(1, int(0.7 * shortest)))
    peaks = peaks[(peaks > 0) & (peaks < len(x) - 1)]
    frame = np.clip(np.rint((peaks - track.window / 2) / track.hop).astype(np.int64), 0, len(track.f0) - 1)
    keep = voiced[frame]
    peaks, frame = peaks[keep], frame[keep]
    if len(peaks) < 3:
        return none, none, none, none
    a, b, c = x[peaks - 1], x[peaks], x[peaks + 1]
    curvature = a - 2.0 * b + c
    shift = np.divide(0.5 * (a - c), curvature, out=np.zeros_like(b), where=curvature < 0)
    when = (peaks + shift) / sr
    height = b - 0.25 * (a - c) * shift
    period = np.diff(when)
    expected = 1.0 / track.f0[frame[1:]]
    one_cycle = np.abs(period - expected) <= PERIOD_TOLERANCE * expected
    pair = one_cycle[:-1] & one_cycle[1:]
    t1, t2 = period[:-1][pair], period[1:][pair]
    similar = np.maximum(t1, t2) / np.minimum(t1, t2) <= MAX_PERIOD_FACTOR
    t1, t2 = t1[similar], t2[similar]
    idx = np.flatnonzero(pair)[similar]
    amp1, amp2 = height[idx + 1], height[idx + 2]
    return (t1 + t2) / 2, np.abs(t1 - t2), (amp1 + amp2) / 2, np.abs(amp1 - amp2)
