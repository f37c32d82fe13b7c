"""Voice prosody family: daily features from the day's voice recordings (AUDIO_FILE series of WAV paths).

Each recording is read with `scipy.io.wavfile` (PCM 8/16/24/32-bit or float; channels averaged) and
analysed by `prosody.analyse` (F0 by YIN, `pitch.yin`); a day pools the frames and cycles of all
recordings that started on that local day. openSMILE eGeMAPS is not used (its licence forbids commercial
use); these are approximations computed by the project's own numpy/scipy code.

| feature | unit | definition |
|---|---|---|
| voice_f0_mean | Hz | mean F0 over the day's voiced speech frames |
| voice_f0_sd | Hz | standard deviation of F0 over voiced frames |
| voice_f0_sd_semitones | {semitone} | standard deviation of 12·log2(F0) over voiced frames |
| voice_f0_range | Hz | 95th minus 5th percentile of F0 over voiced frames |
| voice_f0_range_semitones | {semitone} | 12·log2 of the 95th over the 5th percentile of F0 |
| voice_intensity_sd | dB | standard deviation of frame intensity over speech frames |
| voice_pause_ratio | 1 | pause time (silences ≥ 0.25 s) over speaking span (first to last speech frame) |
| voice_speech_rate | /s | syllable nuclei per second of speaking span |
| voice_jitter | % | mean absolute difference of consecutive glottal periods over their mean period |
| voice_shimmer | % | mean absolute difference of consecutive cycle peak amplitudes over their mean |
| voice_voiced_seconds | s | seconds of voiced speech in the day's recordings |

`coverage_voice` is the fraction of the day's recordings holding at least 1 s of voiced speech.
A day's recordings with no voiced speech leave every feature NaN (counts 0); a missing or unreadable
file raises `VoiceError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import wavfile

from ..datapoints import Kind, Series
from .base import Feature, coverage_column
from .daygroups import day_codes, day_frame, pooled
from .prosody import Prosody, analyse

MIN_VOICED_SECONDS = 1.0

_YIN = ("de Cheveigné A, Kawahara H (2002). YIN, a fundamental frequency estimator for speech and music. "
        "Journal of the Acoustical Society of America 111(4):1917–1930.")
_DEJONG = ("de Jong NH, Wempe T (2009). Praat script to detect syllable nuclei and measure speech rate "
           "automatically. Behavior Research Methods 41(2):385–390.")
_CUMMINS = ("Cummins N, Scherer S, Krajewski J, Schnieder S, Epps J, Quatieri TF (2015). A review of "
            "depression and suicide risk assessment using speech analysis. Speech Communication 71:10–49.")
_FARRUS = ("Farrús M, Hernando J, Ejarque P (2007). Jitter and shimmer measurements for speaker "
           "recognition. Proc. Interspeech 2007:778–781.")


class VoiceError(ValueError):
    """A voice recording could not be read."""


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono samples scaled to [-1, 1] and the sample rate of a WAV file."""
    try:
        rate, data = wavfile.read(path)
    except FileNotFoundError as exc:
        raise VoiceError(f"{path}: voice recording not found") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise VoiceError(f"{path}: not a readable WAV file ({exc})") from exc
    if data.dtype == np.uint8:
        samples = (data.astype(float) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        samples = data.astype(float) / float(np.iinfo(data.dtype).max + 1)
    else:
        samples = data.astype(float)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples, int(rate)


class VoiceFamily:
    """Daily voice prosody from WAV recordings: F0 level and variability, pauses, rate, jitter, shimmer."""

    name = "voice"
    kinds: tuple[Kind, ...] = (Kind.AUDIO_FILE,)
    features: tuple[Feature, ...] = (
        Feature("voice_f0_mean", "Hz", "Mean fundamental frequency (YIN) over the day's voiced speech frames.",
                _YIN),
        Feature("voice_f0_sd", "Hz", "Standard deviation of the fundamental frequency over voiced frames.",
                _CUMMINS),
        Feature("voice_f0_sd_semitones", "{semitone}",
                "Standard deviation of the fundamental frequency on the semitone scale, 12·log2(F0).", _CUMMINS),
        Feature("voice_f0_range", "Hz", "95th minus 5th percentile of the fundamental frequency over voiced "
                "frames.", _CUMMINS),
        Feature("voice_f0_range_semitones", "{semitone}",
                "Pitch range in semitones, 12·log2 of the 95th over the 5th F0 percentile.", _CUMMINS),
        Feature("voice_intensity_sd", "dB", "Standard deviation of frame intensity over the day's speech "
                "frames (energy variability).", _CUMMINS),
        Feature("voice_pause_ratio", "1", "Time in pauses of at least 0.25 s divided by the time from first "
                "to last speech frame.", _DEJONG),
        Feature("voice_speech_rate", "/s", "Syllable nuclei (voiced intensity peaks 2 dB above their dips) "
                "per second of speaking time including pauses.", _DEJONG),
        Feature("voice_jitter", "%", "Mean absolute difference of consecutive glottal-cycle periods divided "
                "by their mean period (local jitter approximation).", _FARRUS),
        Feature("voice_shimmer", "%", "Mean absolute difference of consecutive glottal-cycle peak amplitudes "
                "divided by their mean amplitude (local shimmer approximation).", _FARRUS),
        Feature("voice_voiced_seconds", "s", "Seconds of voiced speech in the day's recordings.", _YIN),
    )

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """One row per local day with recordings: pooled prosody over that day's recordings."""
        local, paths = pooled(series, "path")
        days, codes = day_codes(local)
        by_day: list[list[Prosody]] = [[] for _ in days]
        for path, code in zip(paths, codes, strict=True):
            by_day[code].append(analyse(*read_wav(Path(str(path)))))
        rows = [_day(recordings) for recordings in by_day]
        columns = {name: np.array([r[name] for r in rows]) for name in rows[0]} if rows else {}
        return day_frame(self, days, columns)


def _day(recordings: list[Prosody]) -> dict[str, float]:
    f0 = np.concatenate([r.f0 for r in recordings])
    db = np.concatenate([r.intensity_db for r in recordings])
    span = sum(r.speech_span for r in recordings)
    usable = sum(r.voiced_seconds >= MIN_VOICED_SECONDS for r in recordings)
    out = {f.name: float("nan") for f in VoiceFamily.features}
    out["voice_voiced_seconds"] = float(sum(r.voiced_seconds for r in recordings))
    out[coverage_column(VoiceFamily.name)] = usable / len(recordings)
    if len(f0):
        semitones = 12.0 * np.log2(f0)
        low, high = np.percentile(f0, [5, 95])
        out.update(voice_f0_mean=float(f0.mean()), voice_f0_sd=float(f0.std()),
                   voice_f0_sd_semitones=float(semitones.std()), voice_f0_range=float(high - low),
                   voice_f0_range_semitones=float(12.0 * np.log2(high / low)))
    if len(db):
        out["voice_intensity_sd"] = float(db.std())
    if span > 0:
        out["voice_pause_ratio"] = sum(r.pause_seconds for r in recordings) / span
        out["voice_speech_rate"] = sum(r.nuclei for r in recordings) / span
    out["voice_jitter"] = _relative(recordings, "period_jumps", "periods")
    out["voice_shimmer"] = _relative(recordings, "amplitude_jumps", "amplitudes")
    return out


def _relative(recordings: list[Prosody], jumps: str, levels: str) -> float:
    """Mean jump over mean level, in percent, pooled over recordings (NaN without cycle pairs)."""
    j = np.concatenate([getattr(r, jumps) for r in recordings])
    level = np.concatenate([getattr(r, levels) for r in recordings])
    return float(100.0 * j.mean() / level.mean()) if len(j) else float("nan")
