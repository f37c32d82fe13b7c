"""Turn a reader's parsed rows into a clean `Series`, quarantining what cannot be trusted.

Every reader ends here, so the rules are the same for every format: missing or unparseable times,
missing values, values outside the kind's plausible bounds, intervals that end before they start,
exact and conflicting duplicates, and overlapping intervals from one source are refused with the
reason; out-of-order rows are sorted and counted. Nothing is dropped without a quarantine record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..datapoints import SPECS, Kind, Series
from .quarantine import Rejected

Locator = Callable[[int], str]


@dataclass
class TidyStats:
    """What tidying did to one series' rows."""

    rows_in: int = 0
    rows_kept: int = 0
    out_of_order: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _hint(kind: Kind, value: float) -> str:
    if kind is Kind.HEART_RATE and 0.3 <= value <= 4.2:
        return f" (looks like Hz: {value:g} Hz would be {value * 60:g} /min; declare the unit)"
    if kind is Kind.GLUCOSE and 1.0 <= value <= 40.0:
        return f" (looks like mmol/L: {value:g} mmol/L would be {value * 18.0182:.0f} mg/dL; declare the unit)"
    if kind is Kind.RR_INTERVAL and 0.2 <= value <= 3.0:
        return " (looks like seconds; declare the unit)"
    return ""


def tidy(
    *,
    file: str,
    subject: str,
    kind: Kind,
    source: str,
    tz: str,
    time: np.ndarray,
    columns: Mapping[str, np.ndarray],
    where: Locator,
    raw: Locator,
    end: np.ndarray | None = None,
    refused: Mapping[int, str] | None = None,
) -> tuple[Series, TidyStats]:
    """Validate parsed rows (times already UTC, values already in canonical units) into a Series.

    `refused` names rows the reader already found wrong, with the reason, by row index.
    """
    spec = SPECS[kind]
    n = len(time)
    stats = TidyStats(rows_in=n)
    bad = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}

    def refuse(mask: np.ndarray, reason: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask & ~bad):
            reasons[int(i)] = reason(int(i))
        bad[mask] = True

    for i, why in (refused or {}).items():
        reasons[i] = why
        bad[i] = True
    t = time.astype("datetime64[ns]")
    refuse(np.isnat(t), lambda i: "unparseable or missing timestamp")
    e = end.astype("datetime64[ns]") if end is not None else None
    if e is not None:
        refuse(np.isnat(e), lambda i: "unparseable or missing end time")
        refuse(e < t, lambda i: "interval ends before it starts")
    primary = columns[spec.primary]
    if primary.dtype.kind == "f":
        refuse(np.isnan(primary), lambda i: f"missing {spec.primary}")
    if spec.bounds is not None and primary.dtype.kind in "fiu":
        lo, hi = spec.bounds
        with np.errstate(invalid="ignore"):
            out = (primary < lo) | (primary > hi)
        refuse(out, lambda i: f"implausible {kind.value}: {primary[i]:g} {spec.unit} is outside "
                              f"[{lo:g}, {hi:g}]{_hint(kind, float(primary[i]))}")

    keep = np.flatnonzero(~bad)
    ti = t[keep].view(np.int64)
    # Rows that arrived after a later time had already been seen.
    stats.out_of_order = int(np.count_nonzero(ti[1:] < np.maximum.accumulate(ti)[:-1])) if len(ti) > 1 else 0
    ident = _identity(kind, columns)
    if ident is not None:
        order = keep[np.lexsort((ident[keep], ti))]
    else:
        order = keep[np.argsort(ti, kind="stable")] if stats.out_of_order else keep
    _refuse_duplicates(order, t, e, ident, columns, where, bad, reasons)
    if e is not None:
        _refuse_overlaps(order[~bad[order]], t, e, where, bad, reasons)

    stats.rejected = [Rejected(file, where(i), reasons[i], raw(i)) for i in sorted(reasons)]
    final = order[~bad[order]]
    stats.rows_kept = len(final)
    series = Series(
        subject=subject, kind=kind, source=source, tz=tz, time=t[final],
        columns={c: v[final] for c, v in columns.items()},
        end=e[final] if e is not None else None,
    )
    return series, stats


def _identity(kind: Kind, columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Integer codes of the columns that tell apart samples sharing a time, or None for the kind."""
    names = SPECS[kind].identity
    if not names:
        return None
    keys = [np.unique(np.asarray(columns[c]).astype(str), return_inverse=True)[1].reshape(-1) for c in names]
    codes = keys[0].astype(np.int64)
    for k in keys[1:]:
        codes = codes * (int(k.max()) + 1 if len(k) else 1) + k
    return codes


def _refuse_duplicates(order: np.ndarray, t: np.ndarray, e: np.ndarray | None, ident: np.ndarray | None,
                       columns: Mapping[str, np.ndarray], where: Locator,
                       bad: np.ndarray, reasons: dict[int, str]) -> None:
    if len(order) < 2:
        return
    ts = t[order].view(np.int64)
    same = ts[1:] == ts[:-1]
    if ident is not None:
        same &= ident[order][1:] == ident[order][:-1]
    if e is not None:
        es = e[order].view(np.int64)
        same &= es[1:] == es[:-1]
    if not same.any():
        return
    # Index of the first row of each run of equal times, for every row.
    run_start = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(order)), 0))
    for k in np.flatnonzero(np.r_[False, same]):
        i, first = int(order[k]), int(order[run_start[k]])
        equal = all(_same(v[i], v[first]) for v in columns.values())
        what = "duplicate" if equal else "conflicting duplicate"
        detail = "same time and value" if equal else "same time, different value"
        reasons[i] = f"{what}: {detail} as {where(first)}"
        bad[i] = True


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


def _refuse_overlaps(order: np.ndarray, t: np.ndarray, e: np.ndarray, where: Locator,
                     bad: np.ndarray, reasons: dict[int, str]) -> None:
    starts = t[order].view(np.int64)
    ends = e[order].view(np.int64)
    reach, setter = np.iinfo(np.int64).min, -1
    for k in range(len(order)):
        if starts[k] < reach:
            i = int(order[k])
            reasons[i] = f"overlapping interval: starts before {where(int(order[setter]))} ends"
            bad[i] = True
        else:
            reach, setter = int(ends[k]), k
