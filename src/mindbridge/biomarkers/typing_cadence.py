"""Typing cadence from content-free keystroke events: sessions, inter-key delays, speed, corrections.

| feature | unit | definition |
|---|---|---|
| `typing_keys` | {count} | Keys typed during the local day (autocorrect events excluded). |
| `typing_sessions` | {count} | Typing sessions that began during the local day. |
| `typing_active_time` | min | Summed within-session delays between consecutive keys. |
| `inter_key_delay_median` | s | Median within-session delay between two consecutive alphanumeric keys. |
| `inter_key_delay_iqr` | s | Interquartile range of those alphanumeric-to-alphanumeric delays. |
| `typing_speed` | {keys}/min | Keys typed after a session's first key per minute of active typing time. |
| `backspace_rate` | 1 | Fraction of typed keys that were backspaces. |
| `autocorrect_rate` | 1 | Autocorrect events per typed key. |
| `typing_night_fraction` | 1 | Fraction of the day's typed keys pressed between 00:00 and 06:00 local time. |

Rules. Autocorrect events are the keyboard's actions, not the person's: they are counted for
`autocorrect_rate` and otherwise ignored. A session is a run of typed keys in which no two consecutive keys
are more than `session_gap_seconds` apart (default 5 s, a pause to think rather than a reach for the next
key); delays longer than that are pauses and never enter a delay statistic. A delay belongs to the day of
its second key, a session to the day it began. Night is 00:00-06:00 local wall-clock time. Ratios with a
zero denominator, and delay statistics of a day without alphanumeric pairs, are NaN. `coverage_typing` is
the fraction of the day between the first and the last keystroke event of the recording.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column, empty_daily
from .daygroups import day_frame
from .localdays import (
    NS_PER_MIN,
    NS_PER_S,
    day_index,
    days_spanning,
    grouped_quantile,
    labelled_events,
    ratio,
    span_fraction,
    wall_clock_utc,
)

ZULUETA_2018 = ("Zulueta J, Piscitello A, Rasic M, et al. (2018). Predicting mood disturbance severity with "
                "mobile phone keystroke metadata: a BiAffect digital phenotyping study. Journal of Medical "
                "Internet Research 20(7):e241.")
VESEL_2020 = ("Vesel C, Rashidisabet H, Zulueta J, et al. (2020). Effects of mood and aging on keystroke "
              "dynamics metadata and their diurnal patterns in a large open-science sample: a BiAffect iOS "
              "study. Journal of the American Medical Informatics Association 27(7):1007-1018.")

KEY_CLASSES = ("alphanumeric", "backspace", "space", "punctuation", "autocorrect")


class TypingCadence:
    """Keystroke-timing features per local day."""

    name = "typing"
    kinds: tuple[Kind, ...] = (Kind.KEYSTROKE_EVENT,)
    features: tuple[Feature, ...] = (
        Feature("typing_keys", "{count}", "Number of keys typed during the local day, autocorrect events excluded.",
                ZULUETA_2018),
        Feature("typing_sessions", "{count}",
                "Number of typing sessions (runs of keys with no pause longer than the session gap) that began "
                "during the local day.", ZULUETA_2018),
        Feature("typing_active_time", "min", "Sum of the within-session delays between consecutive typed keys.",
                ZULUETA_2018),
        Feature("inter_key_delay_median", "s",
                "Median within-session delay between two consecutive alphanumeric keys.", ZULUETA_2018),
        Feature("inter_key_delay_iqr", "s",
                "Interquartile range of the within-session delays between two consecutive alphanumeric keys.",
                ZULUETA_2018),
        Feature("typing_speed", "{keys}/min",
                "Keys typed after the first key of their session per minute of active typing time.", VESEL_2020),
        Feature("backspace_rate", "1", "Fraction of the day's typed keys that were backspaces.", ZULUETA_2018),
        Feature("autocorrect_rate", "1", "Number of autocorrect events per typed key during the local day.",
                ZULUETA_2018),
        Feature("typing_night_fraction", "1",
                "Fraction of the day's typed keys pressed between 00:00 and 06:00 local time.", VESEL_2020),
    )

    def __init__(self, session_gap_seconds: float = 5.0, night_hours: tuple[float, float] = (0.0, 6.0)) -> None:
        if session_gap_seconds <= 0:
            raise ValueError(f"session_gap_seconds must be positive, got {session_gap_seconds}")
        if not 0 <= night_hours[0] < night_hours[1] <= 24:
            raise ValueError(f"night_hours must satisfy 0 <= start < end <= 24, got {night_hours}")
        self.session_gap_ns = round(session_gap_seconds * NS_PER_S)
        self.night_hours = night_hours

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily typing-cadence features from one subject's keystroke series."""
        series = [s for s in series if s.kind is Kind.KEYSTROKE_EVENT and len(s)]
        if not series:
            return empty_daily(self)
        utc, key = labelled_events(series, "key_class", KEY_CLASSES)
        days, bounds = days_spanning(int(utc[0]), int(utc[-1]), series[0].tz)
        n = len(days)
        typed = key != "autocorrect"
        t, k = utc[typed], key[typed]
        day = day_index(t, bounds)
        keys = np.bincount(day, minlength=n).astype(float)

        gap = np.diff(t)
        within = gap <= self.session_gap_ns
        session_start = np.ones(len(t), bool)
        session_start[1:] = ~within
        later = day[1:]
        active = np.bincount(later[within], gap[within], minlength=n)
        alnum_pair = within & (k[1:] == "alphanumeric") & (k[:-1] == "alphanumeric")
        delay_s = gap[alnum_pair] / NS_PER_S
        q1, median, q3 = (grouped_quantile(later[alnum_pair], delay_s, n, q) for q in (0.25, 0.5, 0.75))

        night = (t >= wall_clock_utc(days, series[0].tz, self.night_hours[0])[day]) & (
            t < wall_clock_utc(days, series[0].tz, self.night_hours[1])[day])
        autocorrect = np.bincount(day_index(utc[~typed], bounds), minlength=n)
        out = {
            "typing_keys": keys,
            "typing_sessions": np.bincount(day[session_start], minlength=n),
            "typing_active_time": active / NS_PER_MIN,
            "inter_key_delay_median": median,
            "inter_key_delay_iqr": q3 - q1,
            "typing_speed": ratio(np.bincount(later[within], minlength=n), active / NS_PER_MIN),
            "backspace_rate": ratio(np.bincount(day[k == "backspace"], minlength=n), keys),
            "autocorrect_rate": ratio(autocorrect, keys),
            "typing_night_fraction": ratio(np.bincount(day[night], minlength=n), keys),
            coverage_column(self.name): span_fraction(int(utc[0]), int(utc[-1]), bounds),
        }
        return day_frame(self, days, out)
