"""Nightly sleep from wearables' own sleep records: stages and episodes as Apple Health and Open mHealth give them.

| name | unit | definition |
|---|---|---|
| wsleep_onset | h | Start of the main sleep period, hours from local midnight of the wake-up day (negative before). |
| wsleep_offset | h | End of the main sleep period, hours from local midnight of the wake-up day. |
| wsleep_midpoint | h | Mean of onset and offset. |
| wsleep_total | min | Minutes asleep inside the main sleep period. |
| wsleep_time_in_bed | min | Main sleep period extended by the records that adjoin it without a gap. |
| wsleep_waso | min | Minutes not asleep inside the main sleep period. |
| wsleep_efficiency | 1 | Minutes asleep over the main sleep period's length. |
| wsleep_awakenings | {count} | Interruptions of sleep inside the main sleep period. |
| wsleep_deep, wsleep_rem, wsleep_light | min | Minutes of that stage inside the main sleep period. |
| wsleep_deep_fraction, wsleep_rem_fraction, wsleep_light_fraction | 1 | Those minutes over total sleep time. |
| wsleep_regularity_index | 1 | Sleep Regularity Index over the 7 days ending that day, from -100 to 100. |

Nights. As in the actigraphy `sleep` family, a night is the time from local noon of the previous day to
local noon of the labelled day (the wake-up day): 24 h, or 23 / 25 h across a daylight-saving change.
Records are laid on 30-second epochs of real (UTC) time, each record's start and end rounded to the
nearest epoch boundary, so durations are real minutes on every night.

Stages. SLEEP_STAGE records of any number of series (a watch's stages, a phone's in-bed intervals) are
resolved epoch by epoch by priority: deep > rem > light > awake > asleep (unspecified) > in_bed, so a
device that stages sleep wins over a coarser record of the same minutes. A night holding an asleep or
awake stage is a *staged* night: its asleep epochs are those of the asleep stages (asleep, light, deep,
rem) and every other epoch of the night is awake (wearables write their sleep bouts; gaps are not sleep).

Episodes. A SLEEP_EPISODE whose `in_bed` is 1 is a bed period holding `value` minutes of sleep that cannot
be placed inside it; any other `in_bed` (0, NaN, or no such column) makes it only a window holding that
much sleep (Open mHealth's sleep-duration). A night with no stage records uses the episodes of one
source, the one with the most sleep that night: its bed periods are asleep epochs weighted by
value / length (so total sleep time is the episode's value and WASO its remaining minutes; awakenings and
stages are unknown), and windows give only the total sleep time of the night holding their end.

Main sleep period. Asleep bouts of a night separated by less than `sleep.MERGE_GAP_MINUTES` (60 min) form
one period, and the main one holds the most asleep epochs (the actigraphy family's `main_periods`). Times
are local wall-clock hours and the midpoint is the mean of onset and offset, as in the actigraphy family,
so across a daylight-saving change offset - onset differs from the real length by the hour gained or lost.
Nights whose records hold no sleep have zero sleep and NaN times; nights holding only in-bed intervals
have no row. Stage minutes are NaN on nights without light, deep or REM records.

Regularity. The Sleep Regularity Index uses `sleep.sleep_regularity` on a local wall-clock grid of 30-s
epochs (asleep 1, awake 0 on staged and bed-episode nights, missing elsewhere; the skipped spring hour is
missing and the repeated autumn hour keeps its first pass, as the actigraphy grid does).

`coverage_wearable_sleep` is the fraction of the main sleep period's epochs covered by a sleep-state
record (a stage other than in_bed, or a bed-period episode): 1 on a staged night without sleep, 0 on a
night known only through a window total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series, utc_offsets
from .base import Feature, coverage_column, empty_daily
from .cardiac import ASLEEP_STAGES, SLEEP_STAGES
from .daygroups import day_frame
from .epochs import paint, painted
from .localdays import NS_PER_H, NS_PER_S, day_index, days_spanning, labels, ratio, wall_clock_utc
from .sleep import PHILLIPS, SRI_DAYS, main_periods, sleep_regularity

EPOCH_S = 30
EPOCH_NS = EPOCH_S * NS_PER_S
EPOCH_MIN = EPOCH_S / 60
PER_DAY = 86_400 // EPOCH_S
LONGEST_NIGHT = 25 * 3600 // EPOCH_S
PRIORITY = ("in_bed", "asleep", "awake", "light", "rem", "deep")  # stage code = position + 1; later wins
CODE = {stage: code for code, stage in enumerate(PRIORITY, 1)}
ASLEEP_CODES = [CODE[s] for s in ASLEEP_STAGES]
STATE_CODE = CODE["asleep"]  # codes from here up say asleep or awake; in_bed alone says neither
STAGED = ("deep", "rem", "light")

ROENNEBERG = ("Roenneberg T, Wirz-Justice A, Merrow M (2003). Life between clocks: daily temporal patterns of "
              "human chronotypes. Journal of Biological Rhythms 18(1):80-90.")
OHAYON = ("Ohayon MM, Carskadon MA, Guilleminault C, Vitiello MV (2004). Meta-analysis of quantitative sleep "
          "parameters from childhood to old age in healthy individuals: developing normative sleep values across "
          "the human lifespan. Sleep 27(7):1255-1273.")
DE_ZAMBOTTI = ("de Zambotti M, Cellini N, Goldstone A, Colrain IM, Baker FC (2019). Wearable sleep technology in "
               "clinical and research settings. Medicine & Science in Sports & Exercise 51(7):1538-1557.")

FEATURES = (
    Feature("wsleep_onset", "h", "Start of the night's main recorded sleep period in hours from local midnight of "
            "the wake-up day, negative before midnight.", ROENNEBERG),
    Feature("wsleep_offset", "h", "End of the night's main recorded sleep period in hours from local midnight of "
            "the wake-up day.", ROENNEBERG),
    Feature("wsleep_midpoint", "h", "Mean of the onset and offset hours of the night's main recorded sleep "
            "period.", ROENNEBERG),
    Feature("wsleep_total", "min", "Total sleep time: minutes recorded asleep inside the night's main sleep "
            "period.", OHAYON),
    Feature("wsleep_time_in_bed", "min", "Minutes of the main sleep period extended by the in-bed, awake or "
            "sleep records that adjoin it without a gap.", OHAYON),
    Feature("wsleep_waso", "min", "Wake after sleep onset: minutes not recorded asleep inside the night's main "
            "sleep period.", OHAYON),
    Feature("wsleep_efficiency", "1", "Minutes asleep divided by the length of the night's main sleep period.",
            OHAYON),
    Feature("wsleep_awakenings", "{count}", "Number of interruptions of recorded sleep inside the night's main "
            "sleep period.", DE_ZAMBOTTI),
    *(Feature(f"wsleep_{s}", "min", f"Minutes recorded in {label} sleep inside the night's main sleep period.",
              DE_ZAMBOTTI) for s, label in zip(STAGED, ("deep", "REM", "light"), strict=True)),
    *(Feature(f"wsleep_{s}_fraction", "1", f"Minutes of {label} sleep divided by total sleep time in the night's "
              "main sleep period.", OHAYON) for s, label in zip(STAGED, ("deep", "REM", "light"), strict=True)),
    Feature("wsleep_regularity_index", "1", "Sleep Regularity Index of the recorded sleep over the 7 days ending "
            "that day: 200 times the probability that two epochs 24 hours apart share the same sleep/wake state, "
            "minus 100.", PHILLIPS),
)


@dataclass(frozen=True)
class NightGrid:
    """Noon-to-noon nights on real-time epochs: wake-up days, each night's first epoch, and the epoch count."""

    days: np.ndarray
    bounds: np.ndarray
    origin: int

    @property
    def n(self) -> int:
        """Number of nights."""
        return len(self.days)

    @property
    def first_epoch(self) -> np.ndarray:
        """Index of each night's first epoch, and the total epoch count at the end (length n + 1)."""
        return (self.bounds - self.origin) // EPOCH_NS

    def epoch(self, utc: np.ndarray) -> np.ndarray:
        """Nearest epoch boundary of UTC nanoseconds, clipped to the grid."""
        size = int(self.first_epoch[-1])
        return np.clip(np.rint((utc - self.origin) / EPOCH_NS).astype(np.int64), 0, size)

    def rows(self, flat: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """A per-epoch array laid out as `(nights, LONGEST_NIGHT)` rows, padded with `fill`."""
        first = self.first_epoch
        night = np.repeat(np.arange(self.n), np.diff(first))
        out = np.full((self.n, LONGEST_NIGHT), fill, dtype=np.result_type(flat, np.asarray(fill)))
        out[night, np.arange(len(flat)) - first[night]] = flat
        return out


def night_grid(first_ns: int, last_ns: int, tz: str) -> NightGrid:
    """Every noon-to-noon night holding some of [first_ns, last_ns], labelled by wake-up day."""
    days, _ = days_spanning(first_ns, last_ns, tz)
    wake = np.append(days, days[-1] + np.timedelta64(1, "D"))
    bounds = wall_clock_utc(np.append(wake[0] - np.timedelta64(1, "D"), wake), tz, 12.0)
    return NightGrid(wake, bounds, int(bounds[0]))


def within(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, the sum of `rows[r, lo:hi]` (NaN treated as 0; NaN where `lo` is NaN)."""
    csum = np.c_[np.zeros(len(rows)), np.cumsum(np.nan_to_num(rows.astype(float)), axis=1)]
    out = np.full(len(rows), np.nan)
    r = np.flatnonzero(~np.isnan(lo))
    out[r] = csum[r, hi[r].astype(np.int64)] - csum[r, lo[r].astype(np.int64)]
    return out


def clock_hours(utc: np.ndarray, days: np.ndarray, tz: str) -> np.ndarray:
    """Local wall-clock time of UTC nanoseconds (NaN stays NaN) in hours from local midnight of `days`."""
    out = np.full(len(utc), np.nan)
    ok = ~np.isnan(utc)
    t = utc[ok].astype(np.int64).astype("datetime64[ns]")
    local = (t + utc_offsets(t, tz)).view(np.int64)
    out[ok] = (local - days[ok].astype("datetime64[ns]").view(np.int64)) / NS_PER_H
    return out


def stage_codes(stages: Sequence[Series], grid: NightGrid) -> np.ndarray:
    """Per epoch, the code of the highest-priority stage recorded there (0 where none)."""
    size = int(grid.first_epoch[-1])
    codes = np.zeros(size, np.int8)
    if not stages:
        return codes
    first = np.concatenate([grid.epoch(s.time.view(np.int64)) for s in stages])
    last = np.concatenate([grid.epoch(_end(s)) for s in stages])
    stage = np.concatenate([labels(s, "stage", SLEEP_STAGES) for s in stages])
    for name, code in CODE.items():
        sel = stage == name
        codes[paint(size, first[sel], last[sel])] = code
    return codes


@dataclass(frozen=True)
class Episodes:
    """The chosen source's episodes painted on the grid, and per-night window totals."""

    density: np.ndarray
    cover: np.ndarray
    window_total: np.ndarray
    has_window: np.ndarray
    unknown: np.ndarray


def episodes(series: Sequence[Series], grid: NightGrid) -> Episodes:
    """Bed-period episodes of each night's best source painted as sleep density, plus window totals."""
    size, n = int(grid.first_epoch[-1]), grid.n
    if not series:
        none = np.zeros(n, bool)
        return Episodes(np.zeros(size), np.zeros(size, bool), np.full(n, np.nan), none, none)
    start = np.concatenate([s.time.view(np.int64) for s in series])
    end = np.concatenate([_end(s) for s in series])
    value = np.concatenate([np.asarray(s.values, dtype=float) for s in series])
    bed = np.concatenate([np.asarray(s.columns["in_bed"], dtype=float) == 1 if "in_bed" in s.columns
                          else np.zeros(len(s), bool) for s in series])
    source = np.repeat(np.arange(len(series)), [len(s) for s in series])
    night = np.clip(day_index(np.maximum(end - 1, start), grid.bounds), 0, n - 1)
    amount = np.bincount(night * len(series) + source, np.nan_to_num(value), minlength=n * len(series))
    keep = source == np.argmax(amount.reshape(n, len(series)), axis=1)[night]
    first, last = grid.epoch(start), grid.epoch(end)
    used = keep & bed
    length = np.maximum(last - first, 1) * EPOCH_MIN
    density = painted(size, first[used], last[used], np.clip(np.nan_to_num(value[used]) / length[used], 0, 1))
    window = keep & ~bed
    return Episodes(
        density=density,
        cover=paint(size, first[used], last[used]),
        window_total=np.bincount(night[window], np.nan_to_num(value[window]), minlength=n),
        has_window=np.bincount(night[window], minlength=n) > 0,
        unknown=np.bincount(night[keep & np.isnan(value)], minlength=n) > 0,
    )


def _end(s: Series) -> np.ndarray:
    """UTC nanoseconds of an interval series' ends."""
    assert s.end is not None  # interval kinds always carry `end`
    return s.end.view(np.int64)


def extended(record: np.ndarray, onset: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per row, the length in epochs of `[onset, end)` grown outwards over adjoining `record` epochs."""
    flags = np.c_[record, np.zeros(len(record), bool)]
    width = flags.shape[1]
    flat = flags.ravel()
    idx = np.arange(len(flat))
    gap_before = np.maximum.accumulate(np.where(flat, -1, idx))
    gap_after = np.minimum.accumulate(np.where(flat, len(flat), idx)[::-1])[::-1]
    out = np.full(len(record), np.nan)
    r = np.flatnonzero(~np.isnan(onset))
    lo = r * width + onset[r].astype(np.int64)
    hi = r * width + end[r].astype(np.int64)
    out[r] = gap_after[hi] - (gap_before[lo] + 1)
    return out


def regularity(asleep: np.ndarray, grid: NightGrid, tz: str) -> np.ndarray:
    """Sleep Regularity Index per wake-up day from per-epoch sleep states on a local wall-clock grid."""
    utc = (grid.origin + np.arange(len(asleep), dtype=np.int64) * EPOCH_NS).view("datetime64[ns]")
    local = (utc + utc_offsets(utc, tz)).view(np.int64)
    day0 = local[0] // (86_400 * NS_PER_S)
    slot = local // EPOCH_NS - day0 * PER_DAY
    n_days = int(slot[-1] // PER_DAY + 1)
    clock = np.full(n_days * PER_DAY, np.nan)
    slots, first_pass = np.unique(slot, return_index=True)  # a repeated autumn hour keeps its first pass
    clock[slots] = asleep[first_pass]
    sri = sleep_regularity(clock.reshape(n_days, PER_DAY), SRI_DAYS)
    return sri[(grid.days - np.datetime64(int(day0), "D")).astype(np.int64)]


class WearableSleep:
    """Sleep from wearables' sleep stages and episodes: the main sleep period per night, stages, regularity."""

    name = "wearable_sleep"
    kinds: tuple[Kind, ...] = (Kind.SLEEP_STAGE, Kind.SLEEP_EPISODE)
    features: tuple[Feature, ...] = FEATURES

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Nightly features, labelled by wake-up day, from the subject's sleep stage and episode series."""
        mine = [s for s in series if s.kind in self.kinds and len(s)]
        if not mine:
            return empty_daily(self)
        tz = mine[0].tz
        first = min(int(s.time.view(np.int64)[0]) for s in mine)
        last = max(int(_end(s).max()) for s in mine)
        grid = night_grid(first, max(first, last - 1), tz)
        codes = stage_codes([s for s in mine if s.kind is Kind.SLEEP_STAGE], grid)
        ep = episodes([s for s in mine if s.kind is Kind.SLEEP_EPISODE], grid)
        night = np.repeat(np.arange(grid.n), np.diff(grid.first_epoch))
        staged = np.bincount(night[codes >= STATE_CODE], minlength=grid.n) > 0
        episodic = ~staged & (np.bincount(night[ep.cover], minlength=grid.n) > 0)
        timed = staged | episodic
        is_asleep = np.isin(codes, ASLEEP_CODES)
        asleep = np.where(staged[night], is_asleep, np.where(episodic[night], ep.cover, np.nan))
        density = np.where(ep.cover, np.minimum(ep.density, 1.0), 0.0)
        amount = np.where(staged[night], is_asleep, np.where(episodic[night], density, np.nan))

        label_rows = grid.rows(asleep)
        mp = main_periods(label_rows, EPOCH_MIN)
        onset, end = mp["onset"], mp["end"]
        span = (end - onset) * EPOCH_MIN
        total = np.where(timed, np.nan_to_num(within(grid.rows(amount), onset, end)) * EPOCH_MIN, ep.window_total)
        total[ep.unknown] = np.nan
        stage_rows = grid.rows(codes, 0)
        detail = staged & (np.bincount(night[codes >= CODE["light"]], minlength=grid.n) > 0)
        start_utc = grid.bounds[:-1].astype(float)
        on_h = clock_hours(start_utc + onset * EPOCH_NS, grid.days, tz)
        off_h = clock_hours(start_utc + end * EPOCH_NS, grid.days, tz)
        state = (codes >= STATE_CODE) | ep.cover
        covered = ratio(within(grid.rows(state, False), onset, end), end - onset)
        out: dict[str, np.ndarray] = {
            "wsleep_onset": on_h, "wsleep_offset": off_h, "wsleep_midpoint": (on_h + off_h) / 2,
            "wsleep_total": total,
            "wsleep_time_in_bed": extended(grid.rows((codes > 0) | ep.cover, False), onset, end) * EPOCH_MIN,
            "wsleep_waso": span - total, "wsleep_efficiency": ratio(total, span),
            "wsleep_awakenings": np.where(staged, mp["interruptions"], np.nan),
            "wsleep_regularity_index": regularity(asleep, grid, tz),
            coverage_column(self.name): np.where(timed, np.where(np.isnan(onset), 1.0, covered), 0.0),
        }
        for s in STAGED:
            minutes = np.where(detail, np.nan_to_num(within(stage_rows == CODE[s], onset, end)) * EPOCH_MIN, np.nan)
            out[f"wsleep_{s}"] = minutes
            out[f"wsleep_{s}_fraction"] = ratio(minutes, total)
        keep = timed | ep.has_window
        return day_frame(self, grid.days[keep], {k: np.asarray(v, dtype=float)[keep] for k, v in out.items()})
