"""Personal-baseline vocabulary shared by the batch models and the edge (numpy only, no pandas).

Robust z = (value − median) / (1.4826 · MAD) over the trailing days, the day itself excluded (Leys et al.
2013, "Detecting outliers: do not use standard deviation around the mean, use absolute deviation around the
median"). Three guards keep a z honest:

- **wear**: a day whose family coverage (`coverage_<family>`) is below `MIN_COVERAGE` is neither compared
  nor a baseline day, so a watch left on the table never reads as inactivity or as a night's sleep;
- **clock times are circular** (`CLOCK_FEATURES`, hours on a 24 h dial): the baseline is the circular median
  (the observed time with the least summed shortest-arc distance to the others, Fisher 1993, §2.3.2), the
  spread the median shortest arc from it, the deviation the signed shortest arc (never more than 12 h), and
  the words are clock times ("around 04:10, usually 01:30");
- **a MAD floor** (`MAD_FLOOR`, in each biomarker's unit, or a fraction of its median): a patient whose
  value barely varies gets no z in the thousands from a small real change; |z| is clipped to `Z_LIMIT`
  (the largest a summary may carry) and, beyond `Z_WORDS`, reads "far outside this patient's usual range".

Change detection is the two-sided tabular CUSUM of Page (1954) on those z: it accumulates z − k upwards
and −z − k downwards and signals a sustained shift when either sum exceeds h; the shift's onset is the day
the signalling sum last left zero (Montgomery, Introduction to Statistical Quality Control, §9.1). Each z
enters clipped to ±`CUSUM_CLIP` (a winsorised CUSUM, after Lucas & Crosier 1982), so one outlying day is a
deviation, never a shift alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..summary import CLOCK_FEATURES, MAX_DEVIATIONS, Z_LIMIT, Z_WORDS, Deviation, clock, duration, z_words

MAD_TO_SD = 1.4826
DIAL_HOURS = 24.0
CUSUM_K, CUSUM_H, CUSUM_CLIP = 0.5, 4.0, 3.0  # slack, decision interval and clip, in robust-z units
MIN_Z, SHIFT_DAYS, TOP = 2.0, 7, 3  # a day's deviation; how long a signalled shift is reported; how many
WINDOW, MIN_DAYS = 28, 7  # baseline: up to WINDOW days before the day, needing MIN_DAYS of them with a value
# A family's day below this coverage is not worn enough to carry a claim: no deviation, no baseline day, no
# risk input (the device's summary mean reads the same bound). Three quarters of a day worn leaves at most six
# hours unknown, less than one night, so neither a day's activity nor its main sleep period can be an artefact
# of the watch lying still on a table.
MIN_COVERAGE = 0.75
KEY_BIOMARKERS: tuple[str, ...] = ("sleep_midpoint", "sleep_total", "sleep_efficiency", "sleep_regularity_index",
                                   "activity_mean", "activity_zero_fraction", "relative_amplitude", "m10", "l5")
# The smallest spread a baseline is taken to have, (absolute in the unit, fraction of |median|): below it a
# small real change would read as an extreme z. 15 min of sleep timing or duration is within the scorer's
# own epoch-edge uncertainty; 2 points of efficiency or zero fraction, 5 of the Sleep Regularity Index
# (−100 to 100) and 5 % of a count level are below day-to-day variation in Depresjon's controls.
MAD_FLOOR: Mapping[str, tuple[float, float]] = {
    "sleep_midpoint": (0.25, 0.0), "sleep_onset": (0.25, 0.0), "sleep_offset": (0.25, 0.0),
    "m10_onset": (0.25, 0.0), "l5_onset": (0.25, 0.0), "cosinor_acrophase": (0.25, 0.0),
    "sleep_total": (15.0, 0.0), "sleep_efficiency": (0.02, 0.0), "sleep_regularity_index": (5.0, 0.0),
    "activity_zero_fraction": (0.02, 0.0), "relative_amplitude": (0.02, 0.0),
    "activity_mean": (0.0, 0.05), "m10": (0.0, 0.05), "l5": (0.0, 0.05)}
DEFAULT_FLOOR = (0.0, 0.05)


@dataclass(frozen=True)
class Baseline:
    """Per biomarker: the day's value, robust z, baseline (median, circular for clock times) and days with data."""

    values: np.ndarray
    z: np.ndarray
    median: np.ndarray
    days: np.ndarray


def arc(diff: np.ndarray | float) -> np.ndarray:
    """A difference of clock times (h) as the signed shortest arc on the 24 h dial, in [−12, 12)."""
    return np.mod(np.asarray(diff, dtype=float) + DIAL_HOURS / 2, DIAL_HOURS) - DIAL_HOURS / 2


def circular_median(hours: np.ndarray) -> float:
    """The observed clock time with the least summed shortest-arc distance to all the others (first on a tie)."""
    x = np.asarray(hours, dtype=float)
    cost = np.abs(arc(x[:, None] - x[None, :])).sum(axis=1)
    return float(x[int(np.argmin(cost))])


def compare(names: Sequence[str], today: np.ndarray, past: np.ndarray) -> Baseline:
    """Each column of `today` (k,) against its rows of `past` (days, k), NaN where no worn data.

    z is NaN with fewer than `MIN_DAYS` past days, no value today, or a zero spread even after the floor.
    """
    values = np.asarray(today, dtype=float)
    z, median = np.full(len(names), np.nan), np.full(len(names), np.nan)
    days = (~np.isnan(past)).sum(axis=0)
    for j, name in enumerate(names):
        x = past[:, j][~np.isnan(past[:, j])]
        if len(x) < MIN_DAYS:
            continue
        if name in CLOCK_FEATURES:
            median[j] = circular_median(x)
            spread, diff = float(np.median(np.abs(arc(x - median[j])))), float(arc(values[j] - median[j]))
        else:
            median[j] = float(np.median(x))
            spread, diff = float(np.median(np.abs(x - median[j]))), float(values[j] - median[j])
        absolute, relative = MAD_FLOOR.get(name, DEFAULT_FLOOR)
        scale = MAD_TO_SD * max(spread, absolute, relative * abs(median[j]))
        if scale > 0 and np.isfinite(diff):
            z[j] = min(max(diff / scale, -Z_LIMIT), Z_LIMIT)
    return Baseline(values, z, median, days)


def worn_only(values: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """`values` with NaN wherever the matching coverage is below `MIN_COVERAGE` (or unknown)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.asarray(coverage, dtype=float) >= MIN_COVERAGE, values, np.nan)


def direction_word(name: str, sign: float) -> str:
    """'later'/'earlier' for clock features, 'higher'/'lower' for the others, by the sign given."""
    words = ("later", "earlier") if name in CLOCK_FEATURES else ("higher", "lower")
    return words[0] if sign > 0 else words[1]


def label(name: str) -> str:
    """A biomarker's name as words: 'sleep_midpoint' is 'sleep midpoint'."""
    return name.replace("_", " ")


def describe(name: str, unit: str, value: float, median: float) -> str:
    """Plain words for one deviation, e.g. 'sleep midpoint around 04:10, usually 01:30 (2 h 40 min later)'."""
    words = label(name)
    if name in CLOCK_FEATURES:
        shift = float(arc(value - median))
        how = (f"{duration(shift)} {direction_word(name, shift)}" if round(abs(shift) * 60)
               else "at the usual time")
        return f"{words} around {clock(value)}, usually {clock(median)} ({how})"
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
        if abs(z[j]) > Z_WORDS:
            text = f"{text}, {z_words(float(z[j]))}"
        if shift is not None:
            since = f"a sustained shift {direction_word(name, shift.direction)} since {shift.onset:%d %b %Y}"
            text = (f"{text}; {since}" if abs(z[j]) >= MIN_Z
                    else f"{label(name)}: {since} (today within this patient's usual range)")
        out.append(Deviation(biomarker=name, family=family, unit=unit, value=float(values[j]),
                             baseline=float(median[j]), robust_z=float(z[j]), days=int(days[j]), text=text,
                             sustained_since=shift.onset if shift else None))
    return out
