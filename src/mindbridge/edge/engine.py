"""The edge engine: one patient's state, a verified model, and a day of raw counts in, a sealed summary out.

Each day: the day's minute counts join the ring buffer of the last `window_days` days; the newest day's
biomarkers are computed over that window (`biomarkers.trailing.newest_day`, which also computes the features
training reads); the model scores the day; the summary is built from the bounded history; the state is
saved as the file's next generation (`state`, `slots`). Memory stays bounded by the window and the history
length, whatever the number of days fed.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..biomarkers.trailing import COLUMNS, PER_DAY, minute_grid, newest_day
from ..datapoints import Series
from ..privacy.envelope import Recipient, seal
from ..privacy.keys import Identity
from ..summary import RiskSummary
from .baseline import personal_baseline, track_shifts
from .model_loader import EdgeModel, ModelRefused, load_model
from .state import DEFAULT_WINDOW_DAYS, EdgeState, StateError, load_state, save_state
from .summary_builder import build_summary


class DayRefused(ValueError):
    """A day's input cannot be used (wrong kind, wrong day, wrong epoch)."""


@dataclass(frozen=True)
class SealedDay:
    """One processed day: its summary (None when no recent day was worn enough) and envelope bytes."""

    day: dt.date
    summary: RiskSummary | None
    envelope: bytes | None


def day_minutes(series: Series | None, day: dt.date) -> np.ndarray:
    """A day's 1,440 minute counts in local time (NaN where missing) from an activity-counts series."""
    minutes = np.full(PER_DAY, np.nan)
    if series is None or len(series) == 0:
        return minutes
    try:
        grid = minute_grid(series)
    except ValueError as exc:
        raise DayRefused(str(exc)) from exc
    if grid.n_days != 1 or grid.days[0] != np.datetime64(day, "D"):
        raise DayRefused(f"{series.subject}: samples span local days {grid.days[0]}…{grid.days[-1]}, "
                         f"expected only {day}")
    return grid.counts[0]


def split_days(series: Series) -> list[tuple[dt.date, Series]]:
    """A recording cut into local days, in order, each as its own series."""
    if len(series) == 0:
        return []
    local_day = series.local_date()
    bounds = np.flatnonzero(np.r_[True, local_day[1:] != local_day[:-1], True])
    return [(local_day[a].astype(dt.date), series.take(slice(a, b))) for a, b in itertools.pairwise(bounds)]


class EdgeEngine:
    """One patient's on-device runtime; open it, feed days in order, it persists itself after each."""

    def __init__(self, state: EdgeState, state_path: Path, model: EdgeModel, device: Identity,
                 recipient: Recipient) -> None:
        self.state, self.state_path, self.model = state, state_path, model
        self.device, self.recipient = device, recipient

    @staticmethod
    def init(state_path: Path, model_dir: Path, device: Identity, *, tz: str, source: str,
             signers: Sequence[str] = (), window_days: int = DEFAULT_WINDOW_DAYS) -> EdgeState:
        """Create a new state file for the device's patient; refuse to overwrite an existing one."""
        if state_path.exists():
            raise StateError(f"{state_path}: a state already exists; refusing to overwrite a patient's history")
        if device.patient is None:
            raise StateError("the device identity does not name its patient")
        model = _checked_model(model_dir, tuple(signers))
        state = EdgeState(subject=device.patient, device=device.did, tz=tz, source=source, model_id=model.model_id,
                          model_version=model.version, model_sha256=model.sha256, signers=tuple(signers),
                          window_days=window_days)
        save_state(state, state_path)
        return state

    @classmethod
    def open(cls, state_path: Path, model_dir: Path, device_identity: Identity,
             clinic_recipient: Recipient) -> EdgeEngine:
        """Load the state and the model (verified against the state's signers); the device must be the state's."""
        state = load_state(state_path)
        if device_identity.did != state.device:
            raise StateError(f"{state_path}: belongs to device {state.device}, not {device_identity.did}")
        model = _checked_model(model_dir, state.signers)
        state.model_id, state.model_version, state.model_sha256 = model.model_id, model.version, model.sha256
        return cls(state, state_path, model, device_identity, clinic_recipient)

    def _advance(self, day: dt.date, counts: Series | None, answers: Mapping[str, float] | None,
                 now: dt.datetime) -> RiskSummary | None:
        if counts is not None and len(counts) and (counts.tz, counts.source) != (self.state.tz, self.state.source):
            raise DayRefused(f"{counts.subject}: series from {counts.source} in {counts.tz}; this state reads "
                             f"{self.state.source} in {self.state.tz}")
        self.state.push_day(day, day_minutes(counts, day))
        values = newest_day(self.state.counts, self.state.ring_start(), self.state.source)
        self.state.push_features(day, values, np.nan)
        history = {name: self.state.features[:, j] for j, name in enumerate(COLUMNS)}
        if not np.isnan(self.state.counts[-1]).all():  # a day with data is scored, with its trailing context
            self.state.probability[-1] = self.model.probability(history, self.state.days)
        baseline = personal_baseline(values, {k: column[:-1] for k, column in history.items()})
        track_shifts(self.state.cusums, self.state.shifts, baseline, day)
        return build_summary(subject=self.state.subject, model=self.model, days=self.state.days, history=history,
                             probability=self.state.probability, baseline=baseline, shifts=self.state.shifts,
                             window_days=self.state.window_days, now=now, answers=answers)

    def ingest_day(self, day: dt.date, counts: Series | None, answers: Mapping[str, float] | None = None,
                   now: dt.datetime | None = None) -> RiskSummary | None:
        """Add one local day of minute counts (None: no data that day); return its summary, persist the state."""
        summary = self._advance(day, counts, answers, now or dt.datetime.now(dt.UTC))
        save_state(self.state, self.state_path)
        return summary

    def process_day(self, day: dt.date, counts: Series | None, answers: Mapping[str, float] | None = None,
                    now: dt.datetime | None = None, deliver: Callable[[SealedDay], object] | None = None) -> SealedDay:
        """`ingest_day`, then sign and seal the summary to the clinic with the next sequence number.

        `deliver` receives the sealed day before the state is saved, so a crash never loses a sent envelope's day.
        """
        now = now or dt.datetime.now(dt.UTC)
        summary = self._advance(day, counts, answers, now)
        envelope = None
        if summary is not None:
            self.state.seq += 1
            envelope = seal(summary, self.device, self.recipient, self.state.seq, now)
        sealed = SealedDay(day, summary, envelope)
        if deliver is not None:
            deliver(sealed)
        save_state(self.state, self.state_path)
        return sealed

    def day_probabilities(self) -> dict[dt.date, float]:
        """The model probability of every day still in the history (NaN for days without data)."""
        return {d: float(p) for d, p in zip(self.state.days, self.state.probability, strict=True)}


def _checked_model(model_dir: Path, signers: tuple[str, ...]) -> EdgeModel:
    model = load_model(model_dir, signers, require_signature=bool(signers))
    unknown = [f for f in model.plan.bases if f not in COLUMNS]
    if unknown:
        raise ModelRefused(f"{model_dir}: the model needs feature(s) the edge does not compute: {', '.join(unknown)}")
    return model
