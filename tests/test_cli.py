"""The `mindbridge` command: --help everywhere, ingest end to end, clear failure when nothing is usable."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mindbridge.cli import app
from mindbridge.sources.quarantine import read_jsonl

runner = CliRunner()


def _command_paths(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    commands = getattr(group, "commands", None)
    if commands:
        for name, sub in commands.items():
            paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


@pytest.mark.parametrize("path", _command_paths(typer.main.get_command(app)), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_ingest_summarises_and_quarantines(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "p1.csv").write_text("timestamp,date,activity\n2003-05-07 12:00:00,2003-05-07,4\n"
                                 "2003-05-07 12:01:00,2003-05-07,-4\n")
    (data / "empty.csv").write_text("")
    store = tmp_path / "store"
    result = runner.invoke(app, ["ingest", str(data), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "p1" in result.output and "2 record(s) quarantined" in result.output
    assert {r.reason.split(":")[0] for r in read_jsonl(store / "quarantine.jsonl")} == {
        "empty file", "implausible activity_counts"}
    assert list((store / "series" / "activity_counts" / "p1").glob("*.parquet"))


def test_ingest_fails_clearly_when_nothing_is_usable(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    result = runner.invoke(app, ["ingest", str(tmp_path), "--store", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert "Nothing was ingested" in result.output and "empty file" in result.output
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such file or folder" in missing.output


def test_features_that_come_out_empty_say_why_and_what_to_run(globem_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["features", str(globem_dir), "--out", str(tmp_path / "out")])
    said = " ".join(result.stderr.split())  # rich wraps to the terminal width
    assert result.exit_code == 2, result.output
    assert "No daily features: its series (40 × survey_response) gave the families no day" in said
    assert "13 table(s) instead" in said and "mindbridge evaluate globem DIR" in said


def test_features_on_an_empty_store_say_so(tmp_path: Path) -> None:
    (tmp_path / "store" / "series").mkdir(parents=True)
    result = runner.invoke(app, ["features", str(tmp_path / "store"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "No daily features: the store holds no series." in " ".join(result.stderr.split())


DOCS = [Path(__file__).parents[1] / "README.md", *sorted((Path(__file__).parents[1] / "docs").glob("*.md"))]


def test_every_command_the_docs_name_exists() -> None:
    import re

    root = typer.main.get_command(app)
    named = {(doc.name, m.group(1), m.group(2)) for doc in DOCS
             for m in re.finditer(r"(?:^\s*|`|bin/)mindbridge ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?",
                                  doc.read_text(encoding="utf-8"), re.MULTILINE)}
    assert len(named) > 20
    wrong = []
    for doc, first, second in sorted(named, key=lambda n: (n[0], n[1], n[2] or "")):
        top = getattr(root, "commands", {}).get(first)
        if top is None:
            wrong.append(f"{doc}: mindbridge {first}")
        elif getattr(top, "commands", None) is not None and second is not None and second not in top.commands:
            wrong.append(f"{doc}: mindbridge {first} {second}")
    assert wrong == []
