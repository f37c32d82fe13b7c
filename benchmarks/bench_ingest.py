"""Ingest throughput of all of Depresjon (1,571,706 rows) against plain `pandas.read_csv` of the same files."""

from __future__ import annotations

import pandas as pd

from benchmarks.common import compare, depresjon_dir
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
    t = compare({"baseline": baseline, "ours": ours, "one": lambda: ours(workers=1)})
    print(f"files: {len(files)} from {depresjon_dir()}, rows: {rows:,}; best of 5, interleaved")
    for name, label in (("baseline", "baseline pandas.read_csv (parse only)  "),
                        ("one", "mindbridge, files one at a time        "),
                        ("ours", "mindbridge reader (parse+validate+UTC) ")):
        print(f"{label} wall {t[name].wall:.3f} s ({rows / t[name].wall:,.0f} rows/s)  CPU {t[name].cpu:.3f} s")
    print(f"ratio ours/baseline throughput: wall {t['baseline'].wall / t['ours'].wall:.2f}x, "
          f"CPU {t['baseline'].cpu / t['ours'].cpu:.2f}x (>= 1 means no slower than the baseline)")
