"""The actigraphy families and survey scoring run on the device without pandas or scipy, in little memory."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = ("epochs", "activity", "activity_profile", "circadian", "rowstats", "sleep", "sleep_scoring", "base",
           "surveys", "trailing")

# A month of minute counts with a daily rhythm, through every numpy-only entry point of the three families.
PROGRAM = f"""
import json, sys
import numpy as np
{"; ".join(f"import mindbridge.biomarkers.{m}" for m in MODULES)}
from mindbridge.biomarkers.activity import activity_columns
from mindbridge.biomarkers.circadian import circadian_columns
from mindbridge.biomarkers.epochs import epoch_grid
from mindbridge.biomarkers.sleep import sleep_columns
from mindbridge.biomarkers.surveys import PHQ9, score_all
from mindbridge.datapoints import Kind, Series

minutes = np.arange(30 * 1440)
rng = np.random.default_rng(0)
counts = rng.poisson(200 * (1 + np.cos(2 * np.pi * (minutes / 1440 - 0.6)))).astype(float)
times = np.datetime64("2024-03-01T00:00", "ns") + minutes * np.timedelta64(60, "s")
series = Series(subject="s", kind=Kind.ACTIVITY_COUNTS, source="x", tz="Europe/Oslo", time=times,
                columns={{"value": counts}})
grid = epoch_grid(series)
days = [len(f(grid)[0]) for f in (activity_columns, circadian_columns, sleep_columns)]
phq9 = [s.total for s in score_all(dict.fromkeys(PHQ9.items, 2.0)) if s.instrument == "PHQ-9"]
status = open("/proc/self/status").read()
peak_kb = int(status.split("VmHWM:")[1].split()[0])
print(json.dumps({{"heavy": sorted(m for m in ("pandas", "scipy") if m in sys.modules), "days": days,
                  "phq9": phq9, "peak_mb": peak_kb / 1024}}))
"""


def test_actigraphy_families_compute_without_pandas_or_scipy_in_little_memory() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True, timeout=120)
    result = json.loads(done.stdout)
    assert result["heavy"] == []
    assert result["days"][0] == result["days"][1] == 31  # 30 days in UTC+1/+2 reach into a 31st local day
    assert result["days"][2] >= 30
    assert result["phq9"] == [18.0]
    assert result["peak_mb"] < 80
