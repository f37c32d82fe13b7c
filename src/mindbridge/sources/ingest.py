"""Ingest files and folders: sniff, read, tidy, store, and summarise per subject and kind."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..datapoints import Series
from .base import NotReadable, ReadContext, ReadResult
from .quarantine import Rejected, reason_counts
from .registry import sniff
from .store import Store

TABLE_KEY_COLUMNS = ("subject", "date", "week", "instrument", "item")


class NothingUsable(RuntimeError):
    """No file yielded a single usable record."""


@dataclass
class IngestReport:
    """Everything one ingest run read, refused and noted."""

    results: list[ReadResult] = field(default_factory=list)
    failed_files: list[Rejected] = field(default_factory=list)

    @property
    def series(self) -> list[Series]:
        """All series read."""
        return [s for r in self.results for s in r.series]

    @property
    def rejected(self) -> list[Rejected]:
        """Every refused record, whole files included."""
        return [*self.failed_files, *(x for r in self.results for x in r.rejected)]

    @property
    def usable(self) -> bool:
        """True when at least one file gave usable data."""
        return any(r.usable for r in self.results)

    def summary(self) -> pd.DataFrame:
        """One row per subject and kind: rows, first and last time (UTC), hourly coverage, sources."""
        rows = []
        for s in self.series:
            span = s.span()
            assert span is not None
            rows.append({"subject": s.subject, "kind": s.kind.value, "source": s.source, "rows": len(s),
                         "first": span[0], "last": span[1], "hours_with_data": _hours(s)})
        if not rows:
            return pd.DataFrame(columns=["subject", "kind", "rows", "first", "last", "coverage", "sources"])
        frame = pd.DataFrame(rows)
        out = frame.groupby(["subject", "kind"], sort=True).agg(
            rows=("rows", "sum"), first=("first", "min"), last=("last", "max"),
            hours=("hours_with_data", "sum"), sources=("source", lambda x: ", ".join(sorted(set(x)))),
        ).reset_index()
        span_hours = ((out["last"] - out["first"]) / pd.Timedelta(hours=1)).clip(lower=1).apply(np.ceil)
        out["coverage"] = (out.pop("hours") / span_hours).clip(upper=1.0)
        return out[["subject", "kind", "rows", "first", "last", "coverage", "sources"]]


def _hours(s: Series) -> int:
    return len(np.unique(s.time.astype("datetime64[h]")))


def discover(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the files below them (hidden files skipped), in a stable order."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()
                                and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return files


def read_file(path: Path, ctx: ReadContext) -> ReadResult | Rejected:
    """Read one file, or say why the whole file was refused."""
    try:
        return sniff(path).read(path, ctx)
    except NotReadable as exc:
        return Rejected(str(path), "file", str(exc), "")
    except UnicodeDecodeError as exc:
        return Rejected(str(path), f"byte {exc.start}", f"undecodable text: {exc.reason}", "")


def read_files(files: Sequence[Path], ctx: ReadContext, workers: int | None = None) -> Iterator[ReadResult | Rejected]:
    """Read files on a small thread pool (Arrow and numpy release the GIL), yielding results in order."""
    n = workers or min(4, os.cpu_count() or 1)
    if n <= 1 or len(files) <= 1:
        yield from (read_file(p, ctx) for p in files)
        return
    with ThreadPoolExecutor(max_workers=n) as pool:
        yield from pool.map(lambda p: read_file(p, ctx), files)


def ingest(paths: Iterable[Path], ctx: ReadContext, store: Store | None = None,
           on_file: Callable[[Path], None] | None = None, workers: int | None = None) -> IngestReport:
    """Read every file under `paths`; write series, tables and quarantine to `store` when given."""
    report = IngestReport()
    files = discover(paths)
    for path, got in zip(files, read_files(files, ctx, workers), strict=True):
        if isinstance(got, Rejected):
            report.failed_files.append(got)
        else:
            report.results.append(got)
            if store is not None:
                _save(store, got)
        if on_file is not None:
            on_file(path)
    if store is not None:
        store.quarantine(report.failed_files)
    if not report.usable:
        raise NothingUsable(_nothing_message(report))
    return report


def _save(store: Store, result: ReadResult) -> None:
    for s in result.series:
        store.write_series(s)
    for name, frame in result.tables.items():
        store.write_table(name, frame, [c for c in TABLE_KEY_COLUMNS if c in frame.columns], part=str(result.path))
    store.quarantine(result.rejected)


def _nothing_message(report: IngestReport) -> str:
    n = len(report.results) + len(report.failed_files)
    if n == 0:
        return "No files were found at the paths given."
    lines = [f"None of the {n} file(s) contained a usable measurement."]
    for reason, count in reason_counts(report.rejected).most_common(5):
        lines.append(f"  {count} × {reason}")
    return "\n".join(lines)
