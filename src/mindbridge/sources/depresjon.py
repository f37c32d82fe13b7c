"""Depresjon actigraphy exports: one `timestamp,date,activity` CSV per subject, plus `scores.csv`.

Garcia-Ceja et al., ACM MMSys 2018. Wall-clock times are local to Norway (Europe/Oslo); the spring
daylight-saving gap appears in the data as a skipped hour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..datapoints import Kind
from .base import ReadContext, ReadResult, head_text, read_utf8, subject_from_name
from .csvtable import read_columns
from .depresjon_lean import DEFAULT_TZ, DEVICE, HEADER
from .quarantine import Rejected
from .tidy import tidy
from .timezones import localize

SCORES_HEADER = "number,days,gender,age,afftype"


class DepresjonActigraphy:
    """One subject's minute-by-minute activity counts."""

    name = "depresjon"
    description = "Depresjon actigraphy CSV (timestamp,date,activity)"

    def sniff(self, head: bytes, path: Path) -> bool:
        """The header is exactly the Depresjon one."""
        return head_text(head).splitlines()[0:1] == [HEADER] if head else False

    def read(self, path: Path, ctx: ReadContext) -> ReadResult:
        """Read activity counts, checking the date column against the timestamp."""
        data, note = read_utf8(path)
        tz = ctx.tz or DEFAULT_TZ
        result = ReadResult(path, self.name, notes=[note] if note else [])
        cols = read_columns(path, data, {"timestamp": "timestamp", "date": "date", "activity": "float"},
                            timestamp_format="%Y-%m-%d %H:%M:%S")
        result.rejected.extend(cols.rejected)
        result.rows_in += len(cols.rejected)
        wall = cols.columns["timestamp"]
        utc, unplaced = localize(wall, tz)
        mismatch = ~np.isnat(wall) & (wall.astype("datetime64[D]") != cols.columns["date"])
        reasons = {int(i): f"local time does not exist or is ambiguous in {tz} (daylight-saving change)"
                   for i in np.flatnonzero(unplaced)}
        reasons.update({int(i): "date column disagrees with the timestamp" for i in np.flatnonzero(mismatch)})
        series, stats = tidy(file=str(path), subject=ctx.subject or subject_from_name(path), kind=Kind.ACTIVITY_COUNTS,
                             source=DEVICE, tz=tz, time=utc, columns={"value": cols.columns["activity"]},
                             where=cols.where, raw=cols.raw, refused=reasons)
        result.add(series, stats)
        return result


class DepresjonScores:
    """`scores.csv`: one row per subject with group, demographics and MADRS scores."""

    name = "depresjon-scores"
    description = "Depresjon scores.csv (subject labels)"

    def sniff(self, head: bytes, path: Path) -> bool:
        """The header starts with the Depresjon scores columns."""
        return head_text(head).startswith(SCORES_HEADER)

    def read(self, path: Path, ctx: ReadContext) -> ReadResult:
        """Read subject labels into the `subjects` table."""
        data, note = read_utf8(path)
        result = ReadResult(path, self.name, notes=[note] if note else [])
        types = {"number": "str", "days": "float", "gender": "float", "age": "str", "afftype": "float",
                 "melanch": "float", "inpatient": "float", "edu": "str", "marriage": "float",
                 "work": "float", "madrs1": "float", "madrs2": "float"}
        cols = read_columns(path, data, types)  # type: ignore[arg-type]
        result.rejected.extend(cols.rejected)
        frame = pd.DataFrame(cols.columns).rename(columns={"number": "subject"})
        unnamed = frame["subject"].isna().to_numpy()
        for i in np.flatnonzero(unnamed):
            result.rejected.append(Rejected(str(path), cols.where(int(i)), "missing subject id", cols.raw(int(i))))
        frame = frame[~unnamed]
        frame["group"] = np.where(frame["subject"].str.startswith("condition"), "condition", "control")
        result.rows_in = len(cols) + len(cols.rejected)
        result.tables["subjects"] = frame.reset_index(drop=True)
        return result
