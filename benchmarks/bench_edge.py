"""Edge budgets, each printed beside its limit: CPU per patient-day of minute actigraphy, peak memory of an
edge process, model file size, state file size.

Data: Depresjon (Garcia-Ceja et al., ACM MMSys 2018): the longest condition and control recordings, fed one
daily CSV at a time (3 rounds each) through a fresh engine with a signed model of the deployed shape
(`DEPLOYED`: the day's 43 inputs and their 7-day means and sds, exported by `models.export`), sealing one
envelope per day. Each recording runs in `PROCESSES` fresh `python -m mindbridge.device bench` processes, and
the median is the figure (this shared machine's speed drifts by a fifth within minutes): CPU is
`time.process_time` inside the engine, memory the process's own `VmHWM` (not `ru_maxrss`, which inherits the
parent's peak across exec). The baseline is the lean reader parsing the same day's CSV, timed apart. The
import ladder shows what each layer of the edge costs in resident memory.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import depresjon_dir
from mindbridge.edge.model_loader import sign_model
from mindbridge.models.card import ModelCard
from mindbridge.models.context import context_names
from mindbridge.models.export import ONNX_FILE, export_onnx
from mindbridge.models.features import MODEL_FEATURES
from mindbridge.models.linear import PARAMS_FILE, LinearRisk, sha256
from mindbridge.models.training import logistic_pipeline
from mindbridge.privacy.keys import Identity

CPU_MS, RSS_MB, MODEL_KB, STATE_KB = 5.0, 80.0, 100.0, 200.0
PROCESSES = 5
# what `mindbridge train` deploys on Depresjon: the day's inputs and their 7-day context (docs/models.md)
DEPLOYED = MODEL_FEATURES + context_names(MODEL_FEATURES, 7)
RECORDINGS = ("condition/condition_4", "control/control_5")
IMPORTS = ("numpy", "mindbridge.biomarkers.sleep, mindbridge.biomarkers.circadian",
           "mindbridge.summary", "mindbridge.privacy.envelope", "mindbridge.edge.engine",
           "mindbridge.device.commands", "pandas")


def deployed_model(folder: Path) -> str:
    """Write a logistic model of the deployed shape (`DEPLOYED`), exported (JSON + ONNX), carded and signed; the
    signer's DID."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(DEPLOYED)))
    y = (x[:, 0] + rng.normal(size=400) > 0).astype(int)
    pipeline = logistic_pipeline(1.0).fit(x, y)
    files = [export_onnx(pipeline, len(DEPLOYED), folder / ONNX_FILE),
             LinearRisk.from_pipeline(pipeline, DEPLOYED).save(folder / PARAMS_FILE)]
    ModelCard(model_id="bench-logistic", version="0", created=dt.datetime.now(dt.UTC).isoformat(),
              description="benchmark model of the deployed shape", intended_use="benchmark", limits=[],
              data="synthetic", days_used="-", protocol="-", features=list(DEPLOYED), metrics={},
              calibration="-", conformal={}, decision_threshold=0.5,
              artifacts={f.name: sha256(f) for f in files}, citation="-").write(folder)
    team = Identity.generate("model-team")
    sign_model(folder, team, ("card.json", PARAMS_FILE, ONNX_FILE))
    return team.did


def find(folder: Path, stem: str) -> Path:
    """The recording as .csv or .csv.gz."""
    return next(p for p in (folder / f"{stem}.csv", folder / f"{stem}.csv.gz") if p.exists())


def import_rss(modules: str) -> float:
    """Peak resident MB of a fresh interpreter that imports `modules`."""
    code = (f"import {modules}\n"
            "print(next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')) / 1024)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def run(csv: Path, model: Path, signer: str) -> dict[str, float]:
    """One fresh `mindbridge.device bench` process over the recording (3 rounds); its figures."""
    out = subprocess.run([sys.executable, "-m", "mindbridge.device", "bench", str(csv), "--model", str(model),
                          "--rounds", "3", "--model-signer", signer], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def main() -> None:
    """Measure and print every edge budget beside its limit."""
    data = depresjon_dir()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp)
        signer = deployed_model(model)
        print(f"model.json {(model / PARAMS_FILE).stat().st_size / 1024:.1f} KB, "
              f"model.onnx {(model / ONNX_FILE).stat().st_size / 1024:.1f} KB   (budget < {MODEL_KB:.0f} KB)")
        print(f"each recording in {PROCESSES} fresh processes (this machine's speed drifts; the median is the figure)")
        for stem in RECORDINGS:
            runs = [run(find(data, stem), model, signer) for _ in range(PROCESSES)]
            cpu, parse = (np.array([r[key] for r in runs]) for key in ("cpu_ms_per_day", "read_cpu_ms_per_day"))
            print(f"{stem}: {runs[0]['days']:.0f} patient-days, {runs[0]['sealed']:.0f} sealed, per process")
            print(f"  CPU per patient-day   {np.median(cpu):6.2f} ms   (budget < {CPU_MS:.0f} ms; "
                  f"runs {cpu.min():.2f}-{cpu.max():.2f})")
            print(f"  baseline: parsing the day's CSV {np.median(parse):.2f} ms; engine / baseline "
                  f"{np.median(cpu / parse):.2f}x")
            print(f"  peak RSS (VmHWM)      {max(r['peak_rss_mb'] for r in runs):6.1f} MB   (budget < {RSS_MB:.0f} MB)")
            print(f"  state file            {max(r['state_kb'] for r in runs):6.1f} KB   (bound < {STATE_KB:.0f} KB)")
    print("resident MB after importing, each in a fresh interpreter:")
    for modules in IMPORTS:
        print(f"  {import_rss(modules):6.1f}  {modules}")


if __name__ == "__main__":
    main()
