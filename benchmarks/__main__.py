"""`make bench`: run every benchmarks/bench_*.py module's `main()`, each printing ratios to a named baseline."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> None:
    """Run the benchmarks named on the command line, or all of them."""
    names = sys.argv[1:] or sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n=== {name} ===", flush=True)
        module.main()


if __name__ == "__main__":
    main()
