"""Trailing-day context for the day model: each input's mean and sd over the day and the days just before it.

A day's row gets, for a window of `days` calendar days ending on that day, the mean and the sample sd of each
day-model input over the window (`<feature>:mean<days>d`, `<feature>:sd<days>d`): that day and the complete
days before it (all 1,440 minutes recorded, `complete_days`: the only days training uses). So the context
never reads a later day's features, and what the edge computes from the history in its state, where
incomplete days (a recording's first, a 23-hour daylight-saving day) also have rows, equals what training
saw. NaN values are left out; a window with no value gives NaN, and the sd needs two. Which window length to
use, if any (`CONTEXT_DAYS`), is chosen inside the training folds together with the model
(`training.fit_risk_model`'s views), never on the evaluated subjects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..biomarkers.rowstats import nan_mean_sd
from ..biomarkers.trailing import PER_DAY

CONTEXT_DAYS = (3, 5, 7)
STATISTICS = ("mean", "sd")


def complete_days(coverage: np.ndarray, nonwear: np.ndarray) -> np.ndarray:
    """Which days have all 1,440 minutes recorded (worn or flagged non-wear), from the activity family's coverage
    and non-wear minutes: the days training uses, and the only earlier days a window counts."""
    recorded = np.asarray(coverage, dtype=float) * PER_DAY + np.nan_to_num(np.asarray(nonwear, dtype=float))
    return np.asarray(np.round(recorded) >= PER_DAY)


def context_names(columns: Sequence[str], days: int) -> tuple[str, ...]:
    """Names of a window's inputs: `<feature>:mean<days>d` for every column, then `<feature>:sd<days>d`."""
    return tuple(f"{c}:{stat}{days}d" for stat in STATISTICS for c in columns)


def parse_name(name: str) -> tuple[str, str, int] | None:
    """(feature, statistic, days) of a context input's name, or None for a plain day input (or a malformed one)."""
    feature, colon, rest = name.rpartition(":")
    for stat in STATISTICS:
        digits = rest[len(stat):-1]
        if colon and rest.startswith(stat) and rest.endswith("d") and digits.isascii() and digits.isdigit() \
                and int(digits) >= 1:
            return feature, stat, int(digits)
    return None


def window(dates: Sequence[dt.date], at: int, days: int, complete: np.ndarray) -> np.ndarray:
    """The rows of day `at`'s window: itself and the complete days among the `days` calendar days ending on it."""
    rows = np.array([0 <= (dates[at] - d).days < days for d in dates], dtype=bool) & complete
    rows[at] = True
    return rows


def with_context(x: np.ndarray, groups: np.ndarray, dates: Sequence[dt.date],
                 windows: Sequence[int] = CONTEXT_DAYS) -> list[np.ndarray]:
    """For each window length, the `(rows, 2 × inputs)` matrix `[means | sds]` of every row's window among the
    rows of its own group (subject); the rows are complete days (training's study days)."""
    out = [np.full((len(x), 2 * x.shape[1]), np.nan) for _ in windows]
    for group in np.unique(groups):
        rows = (groups == group).nonzero()[0]
        own, complete = [dates[i] for i in rows], np.ones(len(rows), dtype=bool)
        for k, i in enumerate(rows):
            for block, days in zip(out, windows, strict=True):
                block[i] = np.concatenate(nan_mean_sd(x[rows[window(own, k, days, complete)]], axis=0))
    return out


@dataclass(frozen=True)
class ContextPlan:
    """How a model's input row is built from a history of daily features (the edge's use): the plain features it
    reads, the windows it needs, and where each input sits in `[day values | per window: means | sds]`."""

    bases: tuple[str, ...]
    windows: tuple[int, ...]
    take: np.ndarray

    @classmethod
    def of(cls, features: Sequence[str]) -> ContextPlan:
        """The plan of a model's input names (plain features and `context_names`)."""
        parsed = [parse_name(name) or (name, "", 0) for name in features]
        bases = tuple(dict.fromkeys(base for base, _, _ in parsed))
        windows = tuple(sorted({days for _, stat, days in parsed if stat}))
        n = len(bases)
        take = [bases.index(base) if not stat else
                n + 2 * n * windows.index(days) + n * STATISTICS.index(stat) + bases.index(base)
                for base, stat, days in parsed]
        return cls(bases, windows, np.array(take, dtype=np.intp))

    def first_needed(self, dates: Sequence[dt.date]) -> int:
        """The index of the first of `dates` (oldest first) inside the longest window ending on the newest one."""
        longest = max(self.windows, default=1)
        return next(i for i, d in enumerate(dates) if (dates[-1] - d).days < longest)

    def row(self, x: np.ndarray, dates: Sequence[dt.date], complete: np.ndarray) -> np.ndarray:
        """The input row of the newest day from `x`, the `(days, bases)` inputs of `dates` (oldest first), windows
        counting the newest day and the `complete` ones before it (`window`), as in training."""
        parts = [x[-1]]
        for days in self.windows:
            parts.extend(nan_mean_sd(x[window(dates, len(dates) - 1, days, complete)], axis=0))
        return np.concatenate(parts)[self.take]
