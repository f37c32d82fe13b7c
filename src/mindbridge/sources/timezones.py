"""Wall-clock times to UTC, with daylight-saving gaps and repeats handled explicitly."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Every zone's offset changes on a quarter-hour boundary, so one lookup per quarter-hour run suffices.
_RUN = "datetime64[15m]"


def localize(wall: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert naive local times to UTC; also return a mask of times that do not exist or are ambiguous.

    Repeated hours at the end of summer time are resolved by order when the series is sorted (the
    first pass is summer time); times that still cannot be placed come back as NaT in the mask.
    The zone is consulted once per run of samples within the same quarter hour, not once per sample.
    """
    wall = wall.astype("datetime64[ns]")
    if len(wall) == 0:
        return wall.copy(), np.zeros(0, dtype=bool)
    quarter = wall.astype(_RUN).view(np.int64)
    starts = np.flatnonzero(np.r_[True, quarter[1:] != quarter[:-1]])
    reps = pd.DatetimeIndex(wall[starts])
    try:
        utc = reps.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except (ValueError, TypeError):  # order cannot resolve a repeated hour
        utc = reps.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    rep_utc = utc.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
    offset = (rep_utc - wall[starts]).view(np.int64)  # NaT stays the minimum int64
    nat = np.iinfo(np.int64).min
    wall_ns = wall.view(np.int64)
    if offset[0] != nat and np.all(offset == offset[0]):  # no transition inside the recording
        out = np.where(wall_ns == nat, nat, wall_ns + offset[0]).view("datetime64[ns]")
        return out, np.zeros(len(wall), dtype=bool)
    per_sample = np.repeat(offset, np.diff(np.r_[starts, len(wall)]))
    placed = (per_sample != nat) & (wall_ns != nat)
    out = np.where(placed, wall_ns + per_sample, nat).view("datetime64[ns]")
    return out, ~placed & (wall_ns != nat)
