"""A patient's directives as a function of their stored summaries, the pathway and the cycle's `now`.

The pathway is evaluated at each of the patient's days, in order, as of the end of that day (the day's
summaries and the earlier ones, hysteresis carried from the day before), and once more at `now` (what
only time reveals: a lost signal). So what a patient's directives are does not depend on when cycles ran
or in what order envelopes arrived: a cycle evaluates only the days after the last one it evaluated, and
when a summary arrives for a day already evaluated (late, or out of order) the whole history window is
evaluated again. A stored directive that such a re-evaluation no longer raises is superseded (kept for the
audit, no longer in force): it was raised on data that later arrivals changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..summary import Directive
from .pathways import PathwayEngine, PatientHistory


@dataclass(frozen=True)
class Memory:
    """What the last evaluation of a patient left: the last day evaluated, the rules firing on it (hysteresis),
    and how many summaries the patient had up to that day."""

    through: dt.date | None = None
    active: frozenset[str] = frozenset()
    count: int = 0


@dataclass(frozen=True)
class Timeline:
    """The directives of the days evaluated and of `now`, what is firing at `now`, and the memory to keep."""

    directives: list[Directive]
    firing: list[Directive]
    memory: Memory
    since: dt.datetime  # directives created at or after this time were evaluated again


def end_of(day: dt.date, now: dt.datetime) -> dt.datetime:
    """The moment a day's evaluation is made: the day's last second (UTC), or `now` when that is earlier."""
    return min(dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC), now)


def evaluate(engine: PathwayEngine, history: PatientHistory, memory: Memory, counted: tuple[int, int],
             now: dt.datetime) -> Timeline:
    """Evaluate the days after `memory.through` (every day, when a summary arrived for a day already evaluated)
    and `now`. `counted` is how many summaries the patient has, in all, up to `memory.through` and up to today."""
    ordered = history.ordered()
    days = sorted({r.summary.window_end for r in ordered if r.summary.window_end <= now.date()})
    upto_through, upto_today = counted
    late = memory.through is None or upto_through != memory.count
    active = frozenset() if late else memory.active
    points = days if late else [d for d in days if memory.through is not None and d > memory.through]
    found: list[Directive] = []
    for day in points:
        prefix = [r for r in ordered if r.summary.window_end <= day]
        raised = engine.evaluate(PatientHistory(history.patient, prefix, active, history.enrolled_at,
                                                history.first_surveys), end_of(day, now))
        found += raised
        active = frozenset(d.rule_id for d in raised)
    firing = engine.evaluate(PatientHistory(history.patient, ordered, active, history.enrolled_at,
                                            history.first_surveys), now)
    through = points[-1] if points else memory.through
    since = end_of(points[0], now) if points else now
    first: dict[str, Directive] = {}
    for d in found + firing:  # raised again at `now` on the same evidence: the same directive, from its day
        first.setdefault(d.id, d)
    return Timeline(list(first.values()), firing, Memory(through, active, upto_today if points else memory.count),
                    since)
