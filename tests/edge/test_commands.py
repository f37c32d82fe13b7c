"""The `edge` commands end to end on real files: init, day (with quarantine), replay, and a refused state."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edge.world import CLINIC_DID, Clinic, write_model
from mindbridge.device.commands import app
from mindbridge.edge.slots import FIRST_SLOT
from mindbridge.privacy.did import web_document
from mindbridge.privacy.keys import save

runner = CliRunner()


def setup(tmp_path: Path, clinic: Clinic) -> list[str]:
    """Keystore, passphrase file and did:web folder on disk; the common options of day/replay."""
    save(clinic.device, tmp_path / "device.key", "pass phrase", n=2**10)
    (tmp_path / "pass").write_text("pass phrase\n")
    assert clinic.clinic.agreement is not None
    doc = web_document(clinic.clinic.did, clinic.clinic.signing.public_key(), clinic.clinic.agreement.public_key())
    did_dir = tmp_path / "dids" / "clinic.example.org" / "edge"
    did_dir.mkdir(parents=True)
    (did_dir / "did.json").write_text(json.dumps(doc.to_json()))
    return ["--state", str(tmp_path / "state"), "--model", str(write_model(tmp_path / "model")),
            "--device-key", str(tmp_path / "device.key"), "--passphrase-file", str(tmp_path / "pass")]


def test_init_day_replay_and_quarantine(depresjon_dir: Path, tmp_path: Path, clinic: Clinic) -> None:
    common = setup(tmp_path, clinic)
    result = runner.invoke(app, ["init", *common])
    assert result.exit_code == 0, result.output
    lines = (depresjon_dir / "condition" / "condition_5.csv").read_text().splitlines()
    first_day = lines[1][:10]
    day = [lines[0]] + [line for line in lines[1:] if line.startswith(first_day)] + ["2003-xx,bad,row"]
    (tmp_path / "day.csv").write_text("\n".join(day) + "\n")
    send = ["--to", CLINIC_DID, "--did-dir", str(tmp_path / "dids"), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["day", str(tmp_path / "day.csv"), *common, *send])
    assert result.exit_code == 0, result.output
    quarantine = (tmp_path / "state.quarantine.jsonl").read_text()
    assert f"line {len(day)}" in quarantine and "bad,row" in quarantine
    result = runner.invoke(app, ["replay", str(depresjon_dir / "condition" / "condition_5.csv"), *common, *send])
    assert result.exit_code == 0, result.output
    envelopes = sorted((tmp_path / "out").glob("*.envelope.json"))
    assert len(envelopes) >= 10
    opened = [clinic.opener.open(p.read_bytes()) for p in envelopes]
    assert [o.header.seq for o in opened] == list(range(1, len(opened) + 1))
    (tmp_path / "state").write_bytes((tmp_path / "state").read_bytes()[: FIRST_SLOT + 100])  # both generations cut
    result = runner.invoke(app, ["replay", str(depresjon_dir / "condition" / "condition_5.csv"), *common, *send])
    assert result.exit_code == 1 and "truncated or corrupted" in result.output
