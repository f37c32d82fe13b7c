"""Wall-clock times to UTC, with daylight-saving gaps and repeats handled explicitly."""

from __future__ import annotations

import numpy as np
import pandas as pd


def localize(wall: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert naive local times to UTC; also return a mask of times that do not exist or are ambiguous.

    Repeated hours at the end of summer time are resolved by order when the series is sorted (the
    first pass is summer time); times that still cannot be placed come back as NaT in the mask.
    """
    idx = pd.DatetimeIndex(wall)
    try:
        utc = idx.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except (ValueError, TypeError):  # pytz/zoneinfo raise when order cannot resolve a repeat
        utc = idx.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    out = utc.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
    unplaced = np.isnat(out) & ~np.isnat(wall)
    return out, unplaced
