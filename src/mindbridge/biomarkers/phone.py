"""Phone use: screen-on time, unlocks, night-time use, call and message counts (content-free).

| feature | unit | definition |
|---|---|---|
| `screen_on_time` | min | Time the screen was on during the local day. |
| `screen_on_night` | min | Screen-on time between 00:00 and 06:00 local time. |
| `screen_sessions` | {count} | Screen-on periods that began during the local day. |
| `unlocks` | {count} | Unlock events during the local day. |
| `unlocks_night` | {count} | Unlock events between 00:00 and 06:00 local time. |
| `calls_incoming` | {count} | Answered incoming calls that began during the local day. |
| `calls_outgoing` | {count} | Outgoing calls that began during the local day. |
| `calls_missed` | {count} | Missed calls during the local day. |
| `call_minutes` | min | Summed duration of the incoming and outgoing calls that began during the local day. |
| `messages_incoming` | {count} | Text messages received during the local day. |
| `messages_outgoing` | {count} | Text messages sent during the local day. |

Rules. A screen-on period starts at an `on` or `unlock` event while the screen is off and ends at the next
`off` event; repeated `on`/`unlock` events inside it change nothing. A period with no closing `off` (end of
the recording) or longer than `max_screen_on_hours` (default 4 h: a lost `off` event, not a person looking
at a screen) is not counted as screen time; such periods are not filled in. Periods crossing midnight are
split between their days. Night is 00:00-06:00 local wall-clock time (configurable). Calls count on the day
they began, whole. A kind with no series at all leaves its features NaN; a kind with a series counts 0 on
days inside the recording. `coverage_phone` is the fraction of the day between the first and the last phone
event of the recording (the logger ran, so a day without calls is a true zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column, empty_daily
from .daygroups import day_frame
from .localdays import (
    NS_PER_H,
    NS_PER_MIN,
    day_index,
    days_spanning,
    labelled_events,
    merged,
    overlap,
    span_fraction,
    split_by_day,
    wall_clock_utc,
)

SAEB_2015 = ("Saeb S, Zhang M, Karr CJ, Schueller SM, Corden ME, Kording KP, Mohr DC (2015). Mobile phone "
             "sensor correlates of depressive symptom severity in daily-life behavior: an exploratory study. "
             "Journal of Medical Internet Research 17(7):e175.")
WANG_2014 = ("Wang R, Chen F, Chen Z, Li T, Harari G, Tignor S, Zhou X, Ben-Zeev D, Campbell AT (2014). "
             "StudentLife: assessing mental health, academic performance and behavioral trends of college "
             "students using smartphones. Proceedings of ACM UbiComp 2014, 3-14.")
FAURHOLT_JEPSEN_2016 = ("Faurholt-Jepsen M, Vinberg M, Frost M, Christensen EM, Bardram JE, Kessing LV (2016). "
                        "Behavioral activities collected through smartphones and the association with illness "
                        "activity in bipolar disorder. International Journal of Methods in Psychiatric Research "
                        "25(4):309-323.")

SCREEN_ON_EVENTS = ("on", "unlock")
SCREEN_EVENTS = (*SCREEN_ON_EVENTS, "off")
CALL_DIRECTIONS = ("incoming", "outgoing", "missed")
MESSAGE_DIRECTIONS = ("incoming", "outgoing")


def screen_periods(utc: np.ndarray, events: np.ndarray, max_on_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Screen-on periods (UTC start, end) from time-sorted on/unlock/off events, dropping unclosed or too-long ones."""
    on = np.isin(events, SCREEN_ON_EVENTS)
    off_idx = np.flatnonzero(~on)
    start_idx = np.flatnonzero(on & ~np.r_[False, on[:-1]])
    nxt = np.searchsorted(off_idx, start_idx)
    closed = nxt < len(off_idx)
    start = utc[start_idx[closed]]
    end = utc[off_idx[nxt[closed]]]
    keep = end - start <= max_on_ns
    return start[keep], end[keep]


class PhoneUse:
    """Screen, call and message features per local day."""

    name = "phone"
    kinds: tuple[Kind, ...] = (Kind.SCREEN_EVENT, Kind.CALL_EVENT, Kind.MESSAGE_EVENT)
    features: tuple[Feature, ...] = (
        Feature("screen_on_time", "min", "Time the screen was on during the local day.", SAEB_2015),
        Feature("screen_on_night", "min", "Screen-on time between 00:00 and 06:00 local time.", WANG_2014),
        Feature("screen_sessions", "{count}", "Number of screen-on periods that began during the local day.",
                SAEB_2015),
        Feature("unlocks", "{count}", "Number of unlock events during the local day.", WANG_2014),
        Feature("unlocks_night", "{count}", "Number of unlock events between 00:00 and 06:00 local time.",
                WANG_2014),
        Feature("calls_incoming", "{count}", "Number of answered incoming calls that began during the local day.",
                FAURHOLT_JEPSEN_2016),
        Feature("calls_outgoing", "{count}", "Number of outgoing calls that began during the local day.",
                FAURHOLT_JEPSEN_2016),
        Feature("calls_missed", "{count}", "Number of missed calls during the local day.", FAURHOLT_JEPSEN_2016),
        Feature("call_minutes", "min",
                "Summed duration of the incoming and outgoing calls that began during the local day.",
                FAURHOLT_JEPSEN_2016),
        Feature("messages_incoming", "{count}", "Number of text messages received during the local day.",
                FAURHOLT_JEPSEN_2016),
        Feature("messages_outgoing", "{count}", "Number of text messages sent during the local day.",
                FAURHOLT_JEPSEN_2016),
    )

    def __init__(self, night_hours: tuple[float, float] = (0.0, 6.0), max_screen_on_hours: float = 4.0) -> None:
        if not 0 <= night_hours[0] < night_hours[1] <= 24:
            raise ValueError(f"night_hours must satisfy 0 <= start < end <= 24, got {night_hours}")
        if max_screen_on_hours <= 0:
            raise ValueError(f"max_screen_on_hours must be positive, got {max_screen_on_hours}")
        self.night_hours = night_hours
        self.max_screen_on_ns = int(max_screen_on_hours * NS_PER_H)

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily phone-use features from screen, call and message series of one subject."""
        series = [s for s in series if s.kind in self.kinds and len(s)]
        if not series:
            return empty_daily(self)
        tz = series[0].tz
        first = min(int(s.time[0].view(np.int64)) for s in series)
        last = max(int(s.time[-1].view(np.int64)) for s in series)
        days, bounds = days_spanning(first, last, tz)
        night_lo = wall_clock_utc(days, tz, self.night_hours[0])
        night_hi = wall_clock_utc(days, tz, self.night_hours[1])
        n = len(days)
        out: dict[str, np.ndarray] = {f.name: np.full(n, np.nan) for f in self.features}

        def count(mask: np.ndarray, utc: np.ndarray) -> np.ndarray:
            return np.bincount(day_index(utc[mask], bounds), minlength=n).astype(float)

        screens = [s for s in series if s.kind is Kind.SCREEN_EVENT]
        if screens:
            utc, events = labelled_events(screens, "event", SCREEN_EVENTS)
            start, end = screen_periods(utc, events, self.max_screen_on_ns)
            _, day, lo, hi = split_by_day(start, end, bounds)
            out["screen_on_time"] = np.bincount(day, hi - lo, minlength=n) / NS_PER_MIN
            night = overlap(lo, hi, night_lo[day], night_hi[day])
            out["screen_on_night"] = np.bincount(day, night, minlength=n) / NS_PER_MIN
            out["screen_sessions"] = count(np.ones(len(start), bool), start)
            unlock = events == "unlock"
            out["unlocks"] = count(unlock, utc)
            idx = day_index(utc, bounds)
            at_night = (utc >= night_lo[idx]) & (utc < night_hi[idx])
            out["unlocks_night"] = count(unlock & at_night, utc)
        calls = [s for s in series if s.kind is Kind.CALL_EVENT]
        if calls:
            utc, direction = labelled_events(calls, "direction", CALL_DIRECTIONS)
            _, cols = merged(calls, ("duration",))
            for d in CALL_DIRECTIONS:
                out[f"calls_{d}"] = count(direction == d, utc)
            talked = direction != "missed"
            duration = np.nan_to_num(cols["duration"].astype(float))
            out["call_minutes"] = np.bincount(day_index(utc[talked], bounds), duration[talked], minlength=n) / 60
        messages = [s for s in series if s.kind is Kind.MESSAGE_EVENT]
        if messages:
            utc, direction = labelled_events(messages, "direction", MESSAGE_DIRECTIONS)
            for d in MESSAGE_DIRECTIONS:
                out[f"messages_{d}"] = count(direction == d, utc)
        out[coverage_column(self.name)] = span_fraction(first, last, bounds)
        return day_frame(self, days, out)
