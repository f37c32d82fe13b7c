"""Run in the GPL reference environment (.venv-ref), never imported by mindbridge: pyActigraphy's IS, IV,
RA, L5, M10 and Cole-Kripke on Depresjon files, printed as JSON on standard output.

Usage: .venv-ref/bin/python tests/reference/pyactigraphy_reference.py [--repeat=N] FILE.csv [FILE.csv ...]

Inputs are cut to whole local clock hours at both ends (so hourly bins are clock hours on both sides),
laid on a regular 1-minute wall-clock grid, and the missing minutes (the spring daylight-saving hour)
are masked so that pyActigraphy drops the hours that contain them, as mindbridge does. Metrics use raw
counts (binarize=False); Cole-Kripke uses the 1-minute "mean" setting without Webster rescoring.
`seconds` and `cpu_seconds` time only pyActigraphy's computations, not reading or building the
recordings: the best wall-clock and process CPU time of N runs (default 1).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from pyActigraphy.io import BaseRaw

warnings.simplefilter("ignore")


def recording(path: str) -> BaseRaw:
    """A pyActigraphy recording of one Depresjon file, cut to whole clock hours, missing minutes masked."""
    frame = pd.read_csv(path, parse_dates=["timestamp"])
    counts = frame.set_index("timestamp")["activity"].astype(float).asfreq("1min")
    start, stop = counts.index[0].ceil("1h"), (counts.index[-1] + pd.Timedelta("1min")).floor("1h")
    counts = counts[start:stop - pd.Timedelta("1min")]
    raw = BaseRaw(name=path, uuid=path, format="CSV", axial_mode="mono-axial", start_time=counts.index[0],
                  period=counts.index[-1] - counts.index[0], frequency=pd.Timedelta("1min"), data=counts,
                  light=None)
    raw.mask = pd.Series(np.where(counts.notna(), 1, 0), index=counts.index)
    raw.mask_inactivity = True
    return raw


def main() -> None:
    """Print one JSON object per input file, then the best computation time of the runs."""
    args = sys.argv[1:]
    repeat = int(args.pop(0).split("=", 1)[1]) if args and args[0].startswith("--repeat=") else 1
    raws = [recording(p) for p in args]
    out: dict[str, dict] = {}
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        for path, raw in zip(args, raws, strict=True):
            out[path] = {
                "IS": float(raw.IS(binarize=False)), "IV": float(raw.IV(binarize=False)),
                "RA": float(raw.RA(binarize=False)), "L5": float(raw.L5(binarize=False)),
                "M10": float(raw.M10(binarize=False)),
                "ck": raw.CK(settings="mean", threshold=1.0, rescoring=False).astype(int).tolist(),
            }
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    for path, raw in zip(args, raws, strict=True):
        out[path]["start"] = str(raw.data.index[0])
        out[path]["ck_defined"] = (raw.data.rolling(9, center=True).count() == 9).astype(int).tolist()
    json.dump({"seconds": min(walls), "cpu_seconds": min(cpus), "files": out}, sys.stdout)


if __name__ == "__main__":
    main()
