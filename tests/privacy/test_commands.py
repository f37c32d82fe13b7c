"""The privacy commands end to end through typer's CliRunner, with real keystores, files and SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mindbridge.privacy.commands import register
from mindbridge.privacy.keys import public_info
from mindbridge.summary import RiskSummary

from .conftest import CLINIC_DID, summary_for

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app, RiskSummary)
    return app


def run(app: typer.Typer, *args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], env={"MINDBRIDGE_PASSPHRASE": "pass phrase", "COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


def test_help_everywhere(app: typer.Typer) -> None:
    for args in (["keys"], ["consent"], ["seal"], ["open"], ["research-export"], ["keys", "init"],
                 ["keys", "enrol"], ["keys", "retire"], ["keys", "show"], ["consent", "grant"], ["consent", "revoke"],
                 ["consent", "show"]):
        assert "Usage" in run(app, *args, "--help")


@pytest.mark.slow
def test_the_main_command_has_the_privacy_commands() -> None:
    from mindbridge.cli import app as main_app

    output = run(main_app, "--help")
    for name in ("keys", "consent", "seal", "open", "research-export"):
        assert name in output


@pytest.mark.slow
def test_keys_consent_seal_open_revoke(app: typer.Typer, tmp_path: Path) -> None:
    pat, dev, cli = tmp_path / "patient.key", tmp_path / "device.key", tmp_path / "clinic.key"
    run(app, "keys", "init", pat, "--role", "patient")
    patient = str(public_info(pat)["did"])
    run(app, "keys", "init", dev, "--role", "device", "--patient", patient)
    run(app, "keys", "init", cli, "--role", "clinic", "--did-web", CLINIC_DID, "--publish", tmp_path / "dids")
    assert "pass phrase" not in pat.read_text()
    assert "refusing to overwrite" in run(app, "keys", "init", pat, code=1)
    device = str(public_info(dev)["did"])
    run(app, "keys", "enrol", device, "--patient-key", pat, "--devices", tmp_path / "devices.jwt")
    status = tmp_path / "status.jwt"
    run(app, "consent", "grant", "--patient-key", pat, "--grantee", CLINIC_DID, "--status", status, "--out",
        tmp_path / "grant.jwt", "--family", "sleep", "--family", "activity", "--output", "risk", "--output",
        "deviations", "--output", "coverage")
    shown = json.loads(run(app, "consent", "show", tmp_path / "grant.jwt", "--status", status))
    assert shown["patient"] == patient and shown["revoked"] is False
    assert json.loads(run(app, "consent", "show", tmp_path / "grant.jwt", "--fhir"))["resourceType"] == "Consent"

    summary = tmp_path / "summary.json"
    summary.write_text(summary_for(patient).model_dump_json())
    opening = ["open", tmp_path / "env.json", "--clinic-key", cli, "--devices", tmp_path / "devices.jwt", "--grant",
               tmp_path / "grant.jwt", "--status", status, "--replay-db", tmp_path / "replay.sqlite", "--out",
               tmp_path / "opened.json"]
    sealing = ["seal", summary, "--device-key", dev, "--to", CLINIC_DID, "--did-dir", tmp_path / "dids",
               "--out", tmp_path / "env.json"]
    run(app, *sealing)
    run(app, *opening)
    assert RiskSummary.model_validate_json((tmp_path / "opened.json").read_text()).subject == patient
    assert "(replay)" in run(app, *opening, code=2)

    run(app, *sealing)  # sequence 2
    run(app, "consent", "revoke", tmp_path / "grant.jwt", "--patient-key", pat, "--status", status)
    assert "(consent-revoked)" in run(app, *opening, code=2)
    run(app, "keys", "retire", device, "--patient-key", pat, "--devices", tmp_path / "devices.jwt")
    run(app, *sealing)  # sequence 3, after retirement
    assert "(retired-key)" in run(app, *opening, code=2)


def test_wrong_passphrase_is_refused_without_echo(app: typer.Typer, tmp_path: Path) -> None:
    run(app, "keys", "init", tmp_path / "p.key")
    secret = tmp_path / "pass.txt"
    secret.write_text("not the pass phrase\n")
    output = run(app, "consent", "grant", "--patient-key", tmp_path / "p.key", "--grantee", CLINIC_DID, "--status",
                 tmp_path / "s.jwt", "--out", tmp_path / "g.jwt", "--passphrase-file", secret, code=2)
    assert "(keystore)" in output and "not the pass phrase" not in output


def test_research_export_command(app: typer.Typer, tmp_path: Path) -> None:
    pat = tmp_path / "p.key"
    run(app, "keys", "init", pat)
    patient = str(public_info(pat)["did"])
    exporter = "did:web:research.example.org"
    run(app, "consent", "grant", "--patient-key", pat, "--grantee", exporter, "--purpose", "research", "--status",
        tmp_path / "s.jwt", "--out", tmp_path / "g.jwt", "--family", "sleep", "--output", "daily_features")
    table = tmp_path / "features.csv"
    table.write_text("subject,date,sleep:duration,email\nann,2024-01-01,7.5,a@x.org\nann,2024-01-02,6.0,a@x.org\n"
                     "ben,2024-01-01,8.0,b@x.org\n")
    (tmp_path / "subjects.json").write_text(json.dumps({"ann": patient}))
    (tmp_path / "secret").write_bytes(b"0123456789abcdef0123")
    output = run(app, "research-export", table, "--subjects", tmp_path / "subjects.json", "--exporter", exporter,
                 "--grant", tmp_path / "g.jwt", "--status", tmp_path / "s.jwt", "--secret-file", tmp_path / "secret",
                 "--out", tmp_path / "out.csv")
    assert "left out ben" in output and "dropped column email" in output
    out = (tmp_path / "out.csv").read_text()
    assert "ann" not in out and "@" not in out and out.count("\n") == 3
