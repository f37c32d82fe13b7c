"""Heart-rate variability from a raw ECG or PPG waveform: the optional `hrv` extra (neurokit2, MIT licence).

Beats. neurokit2 cleans the waveform and finds its beats: for ECG `ecg_clean` then `ecg_peaks` (its
default QRS detector), for PPG `ppg_clean` then `ppg_peaks` (Elgendi's systolic-peak detector). The
intervals between successive beats, in ms and time-stamped at their closing beat, form an RR_INTERVAL
series; the cardiac family then applies its own artefact rejection and its RMSSD, SDNN and pNN50
definitions unchanged (`cardiac.Cardiac`), so waveform-derived and device-reported RR intervals are
treated alike. Pulse-to-pulse intervals from PPG stand in for RR intervals (pulse rate variability),
which agrees with ECG-derived HRV at rest but less so during movement (Schäfer & Vagedes 2013).

neurokit2 is imported only when one of these functions runs; the core package never imports it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .cardiac import Cardiac

Waveform = Literal["ecg", "ppg"]
HRV_COLUMNS = ("hrv_rmssd", "hrv_sdnn", "hrv_pnn50", "rr_rejected_fraction")
MIN_SECONDS = 10.0
DEFAULT_START = np.datetime64("2000-01-01T00:00:00", "ns")

SCHAFER_VAGEDES = ("Schäfer A, Vagedes J (2013). How accurate is pulse rate variability as an estimate of heart rate "
                   "variability? A review on studies comparing photoplethysmographic technology with an "
                   "electrocardiogram. International Journal of Cardiology 166(1):15-29.")
ELGENDI_2013 = ("Elgendi M, Norton I, Brearley M, Abbott D, Schuurmans D (2013). Systolic peak detection in "
                "acceleration photoplethysmograms measured from emergency responders in tropical conditions. "
                "PLoS ONE 8(10):e76585.")


def _neurokit() -> Any:
    """The neurokit2 module, or an ImportError that says how to install the extra."""
    try:
        import neurokit2
    except ImportError as exc:
        raise ImportError("HRV from ECG/PPG waveforms needs the optional extra: pip install 'mindbridge[hrv]'") from exc
    return neurokit2


def beat_times(signal: np.ndarray, sampling_rate: float, kind: Waveform) -> np.ndarray:
    """Times of the detected beats in seconds from the first sample (R peaks for ECG, systolic peaks for PPG)."""
    x = np.asarray(signal, dtype=float)
    if kind not in ("ecg", "ppg"):
        raise ValueError(f"waveform kind must be 'ecg' or 'ppg', got {kind!r}")
    if not sampling_rate > 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
    if x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError(f"{kind} signal must be a one-dimensional array of finite numbers")
    if len(x) < MIN_SECONDS * sampling_rate:
        raise ValueError(f"{kind} signal of {len(x) / sampling_rate:.1f} s is too short: at least {MIN_SECONDS:g} s")
    nk = _neurokit()
    rate = round(sampling_rate) if float(sampling_rate).is_integer() else sampling_rate
    if kind == "ecg":
        _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=rate), sampling_rate=rate)
        peaks = info["ECG_R_Peaks"]
    else:
        _, info = nk.ppg_peaks(nk.ppg_clean(x, sampling_rate=rate), sampling_rate=rate)
        peaks = info["PPG_Peaks"]
    return np.sort(np.asarray(peaks, dtype=float)) / sampling_rate


def rr_series(signal: np.ndarray, sampling_rate: float, kind: Waveform, *, start: np.datetime64 = DEFAULT_START,
              subject: str = "", tz: str = "UTC", source: str = "") -> Series:
    """An RR_INTERVAL series from a waveform whose first sample was taken at `start` (UTC)."""
    beats = beat_times(signal, sampling_rate, kind)
    offset_ns = np.rint(beats[1:] * 1e9).astype(np.int64)
    time = np.asarray(start).astype("datetime64[ns]") + offset_ns.astype("timedelta64[ns]")
    return Series(subject, Kind.RR_INTERVAL, source or f"{kind} waveform", tz, time,
                  {"value": np.diff(beats) * 1000.0})


def waveform_hrv(signal: np.ndarray, sampling_rate: float, kind: Waveform, *,
                 start: np.datetime64 = DEFAULT_START, tz: str = "UTC") -> pd.DataFrame:
    """RMSSD, SDNN, pNN50 and the rejected fraction per local day of a waveform, by the cardiac family's rules."""
    series = rr_series(signal, sampling_rate, kind, start=start, tz=tz)
    table = Cardiac().daily([series])
    return table.loc[:, list(HRV_COLUMNS)]
