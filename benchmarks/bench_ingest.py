"""Ingest throughput of all of Depresjon (1,571,706 rows) against plain `pandas.read_csv` of the same files."""

from __future__ import annotations

import pandas as pd

from benchmarks.common import best_of, depresjon_dir
from mindbridge.sources.base import ReadContext, ReadResult
from mindbridge.sources.ingest import discover, read_files


def main() -> None:
    """Print rows/s for our reader (parse + validate + UTC conversion) and for the baseline, and the ratio."""
    files = [p for p in discover([depresjon_dir()]) if "scores" not in p.name]
    ctx = ReadContext()

    def ours(workers: int | None = None) -> int:
        n = 0
        for got in read_files(files, ctx, workers):
            assert isinstance(got, ReadResult)
            n += sum(len(s) for s in got.series)
        return n

    def baseline() -> int:
        return sum(len(pd.read_csv(p)) for p in files)

    rows = ours()
    assert rows == baseline()
    t_ours, t_one, t_base = best_of(ours), best_of(lambda: ours(workers=1)), best_of(baseline)
    print(f"files: {len(files)} from {depresjon_dir()}, rows: {rows:,}")
    print(f"baseline pandas.read_csv (parse only):  {t_base:.3f} s  {rows / t_base:,.0f} rows/s")
    print(f"mindbridge, files one at a time:        {t_one:.3f} s  {rows / t_one:,.0f} rows/s")
    print(f"mindbridge reader (parse+validate+UTC): {t_ours:.3f} s  {rows / t_ours:,.0f} rows/s")
    print(f"ratio ours/baseline throughput: {t_base / t_ours:.2f}x (>= 1 means no slower than the baseline)")
