"""`mindbridge demo` end to end on a small subset of the bundled data: device side to clinic side."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mindbridge.cli import app
from mindbridge.hub.audit import verify
from mindbridge.hub.db import make_engine, sessions

DEMO_DATA = Path(__file__).resolve().parents[1] / "demo-data" / "depresjon"


@pytest.mark.slow
def test_demo_runs_the_whole_spine(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for group in ("condition", "control"):
        (data / group).mkdir(parents=True)
        for n in range(1, 7):
            shutil.copy(DEMO_DATA / group / f"{group}_{n}.csv.gz", data / group)
    shutil.copy(DEMO_DATA / "scores.csv.gz", data)
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--data", str(data)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Triage queue of demo-clinician" in text and "mindbridge.hub serve --db sqlite:///" in text
    bundle = json.loads((out / "fhir-bundle.json").read_text())
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"RiskAssessment", "Task", "Provenance"} <= kinds
    card = json.loads((out / "model" / "card.json").read_text())
    assert card["artifacts"] and (out / "model" / "signature.json").exists()
    assert stat.S_IMODE((out / "clinician.token").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "clinic.passphrase").stat().st_mode) == 0o600
    assert (out / "biomarkers.png").stat().st_size > 10_000
    engine = make_engine(f"sqlite:///{out / 'hub.db'}")
    with sessions(engine)() as s:
        assert verify(s).ok
    engine.dispose()
    again = CliRunner().invoke(app, ["demo", "--out", str(out), "--data", str(data)])
    assert again.exit_code == 0, "a second run replaces the demo's own folder"
    (tmp_path / "mine").mkdir()
    refused = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "mine"), "--data", str(data)])
    assert refused.exit_code != 0, "a folder the demo did not make is never deleted"
