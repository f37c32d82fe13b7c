"""Personal-baseline vocabulary shared by the batch models and the edge (numpy only, no pandas).

Robust z = (value − median) / (1.4826 · MAD) over the trailing days, the day itself excluded (Leys et al.
2013, "Detecting outliers: do not use standard deviation around the mean, use absolute deviation around the
median"); clock features read "later/earlier", others "higher/lower". Change detection is the two-sided
tabular CUSUM of Page (1954) on those z: it accumulates z − k upwards and −z − k downwards and signals a
sustained shift when either sum exceeds h; the shift's onset is the day the signalling sum last left zero
(Montgomery, Introduction to Statistical Quality Control, §9.1). Each z enters clipped to ±`CUSUM_CLIP`
(a winsorised CUSUM, after Lucas & Crosier 1982), so one outlying day is a deviation, never a shift alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..summary import MAX_DEVIATIONS, Deviation

MAD_TO_SD = 1.4826
CLOCK_FEATURES = frozenset({"sleep_onset", "sleep_offset", "sleep_midpoint", "m10_onset", "l5_onset",
                            "cosinor_acrophase"})
CUSUM_K, CUSUM_H, CUSUM_CLIP = 0.5, 4.0, 3.0  # slack, decision interval and clip, in robust-z units
MIN_Z, SHIFT_DAYS, TOP = 2.0, 7, 3  # a day's deviation; how long a signalled shift is reported; how many
KEY_BIOMARKERS: tuple[str, ...] = ("sleep_midpoint", "sleep_total", "sleep_efficiency", "sleep_regularity_index",
                                   "activity_mean", "activity_zero_fraction", "relative_amplitude", "m10", "l5")



def direction_word(name: str, sign: float) -> str:
    """'later'/'earlier' for clock features, 'higher'/'lower' for the others, by the sign given."""
    words = ("later", "earlier") if name in CLOCK_FEATURES else ("higher", "lower")
    return words[0] if sign > 0 else words[1]


def label(name: str) -> str:
    """A biomarker's name as words: 'sleep_midpoint' is 'sleep midpoint'."""
    return name.replace("_", " ")


def describe(name: str, unit: str, value: float, median: float) -> str:
    """Plain words for one deviation, e.g. 'sleep midpoint 2.1 h later than this patient's usual'."""
    words = label(name)
    diff = value - median
    direction = direction_word(name, diff)
    if unit == "min" and abs(diff) >= 90:
        return f"{words} {abs(diff) / 60:.1f} h {direction} than this patient's usual"
    if unit in ("h", "min"):
        return f"{words} {abs(diff):.1f} {unit} {direction} than this patient's usual"
    if median != 0 and np.isfinite(median):
        return f"{words} {abs(diff) / abs(median):.0%} {direction} than this patient's usual"
    return f"{words} {abs(diff):.3g} {direction} than this patient's usual"


@dataclass
class Cusum:
    """One biomarker's two-sided CUSUM: both sums and the step at which each last left zero."""

    up: float = 0.0
    down: float = 0.0
    up_since: int = -1
    down_since: int = -1

    def step(self, z: float, at: int, k: float = CUSUM_K, h: float = CUSUM_H) -> tuple[int, int]:
        """Add step `at`'s z (NaN is skipped); (+1 up / −1 down / 0, onset step) — the sums restart on a signal."""
        if np.isnan(z):
            return 0, -1
        z = min(max(z, -CUSUM_CLIP), CUSUM_CLIP)
        if self.up == 0.0:
            self.up_since = at
        if self.down == 0.0:
            self.down_since = at
        self.up, self.down = max(0.0, self.up + z - k), max(0.0, self.down - z - k)
        if self.up <= h and self.down <= h:
            return 0, -1
        signal = (1, self.up_since) if self.up > h else (-1, self.down_since)
        self.up = self.down = 0.0
        return signal


@dataclass(frozen=True)
class Shift:
    """A sustained shift the CUSUM signalled: its direction (+1 up, −1 down), onset day and signal day."""

    direction: int
    onset: dt.date
    signalled: dt.date


def track_shift(state: Cusum, z: float, day: dt.date, last: Shift | None) -> Shift | None:
    """Feed one day's z to a biomarker's CUSUM; the newest shift signalled so far (`last` when none now).

    The sums restart after a signal, so a shift that persists signals again every few days; a signal whose
    run began right after the previous same-direction signal continues that shift and keeps its onset.
    """
    direction, start = state.step(z, day.toordinal())
    if not direction:
        return last
    onset = dt.date.fromordinal(start)
    if last is not None and last.direction == direction and onset <= last.signalled + dt.timedelta(days=1):
        onset = last.onset
    return Shift(direction, onset, day)


def choose_deviations(day: dt.date, names: Sequence[str], values: np.ndarray, z: np.ndarray, median: np.ndarray,
                      days: np.ndarray, units: Mapping[str, tuple[str, str]],
                      shifts: Mapping[str, Shift] | None = None, n: int = TOP) -> list[Deviation]:
    """The `n` largest |z| among biomarkers at least `MIN_Z` off their baseline today or in a shift signalled
    in the last `SHIFT_DAYS` days (named with its onset), largest first."""
    shifts = shifts or {}
    recent = {name: s for name, s in shifts.items() if (day - s.signalled).days < SHIFT_DAYS}
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(z) & ((np.abs(z) >= MIN_Z) | np.array([name in recent for name in names], dtype=bool))
    found = keep.nonzero()[0]
    out = []
    for j in found[np.argsort(-np.abs(z[found]), kind="stable")][: min(n, MAX_DEVIATIONS)]:
        name, (family, unit) = names[j], units.get(names[j], ("", "1"))
        shift = recent.get(name)
        text = describe(name, unit, float(values[j]), float(median[j]))
        if shift is not None:
            since = f"a sustained shift {direction_word(name, shift.direction)} since {shift.onset:%d %b %Y}"
            text = (f"{text}; {since}" if abs(z[j]) >= MIN_Z
                    else f"{label(name)}: {since} (today within this patient's usual range)")
        out.append(Deviation(biomarker=name, family=family, unit=unit, value=float(values[j]),
                             baseline=float(median[j]), robust_z=float(z[j]), days=int(days[j]), text=text,
                             sustained_since=shift.onset if shift else None))
    return out
