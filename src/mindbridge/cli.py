"""The `mindbridge` command: every stage of the pipeline from the terminal (typer + rich)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import numpy as np
import pandas as pd
import typer

from . import __version__, demo
from .biomarkers.catalogue import render as render_catalogue
from .biomarkers.sleep_scoring import METHODS, score
from .device.commands import app as edge_app
from .edge.model_loader import sign_model
from .hub.commands import register as register_hub
from .models.commands import comparison_table, train_artifact
from .models.commands import register as register_models
from .pipeline import trailing_feature_table
from .privacy.commands import register as register_privacy
from .privacy.errors import PrivacyError
from .privacy.keys import load, passphrase_from
from .sources.base import NotReadable, ReadContext, read_utf8
from .sources.csvtable import read_columns
from .sources.ingest import NothingUsable
from .sources.mapping import MappingError, load_mapping
from .sources.store import Store
from .steps import console, demo_plot, depresjon_tables, err, run_features, run_ingest, why_no_features
from .summary import RiskSummary

app = typer.Typer(help="mindbridge: digital biomarkers to clinical directives, raw data kept on the device.",
                  no_args_is_help=True, add_completion=False)
register_privacy(app, RiskSummary)
register_hub(app)
app.add_typer(edge_app, name="edge")

DEFAULT_STORE = Path("mindbridge-data")
REPO_ROOT = Path(__file__).resolve().parents[2]


def nothing_ingested(exc: Exception) -> NoReturn:
    """Say why nothing was read, in words a data manager can act on, and exit 1."""
    err.print(f"[red]Nothing was ingested.[/] {exc}", soft_wrap=True)
    raise typer.Exit(1) from exc


def depresjon_or_exit(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Depresjon features the model trains on and the subjects table, or a clear exit when the folder holds
    nothing usable."""
    try:
        return depresjon_tables(folder)
    except (NothingUsable, FileNotFoundError) as exc:
        nothing_ingested(exc)


def _version(value: bool) -> None:
    if value:
        console.print(f"mindbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """mindbridge: digital biomarkers to clinical directives."""


@app.command("ingest")
def ingest_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of raw exports (any supported format).")],
    store: Annotated[Path, typer.Option(help="Folder of the local series store.")] = DEFAULT_STORE,
    tz: Annotated[str | None, typer.Option(help="Time zone of files whose times carry none (IANA name).")] = None,
    mapping: Annotated[list[Path] | None, typer.Option(
        help="YAML file describing the columns of other CSVs (docs/mapping-files.md); repeatable.")] = None,
) -> None:
    """Read raw sensor exports, validate them, quarantine bad records and store canonical series."""
    try:
        for m in mapping or []:
            load_mapping(m)
        run_ingest(paths, Store(store), ReadContext(tz=tz, mappings=tuple(mapping or ())))
    except MappingError as exc:
        err.print(f"[red]Bad mapping file.[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except (NothingUsable, FileNotFoundError) as exc:
        nothing_ingested(exc)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs (replaced if an earlier demo made it).")]
        = Path("demo-output"),
    data: Annotated[Path, typer.Option(help="Depresjon data folder.")] = REPO_ROOT / "demo-data" / "depresjon",
) -> None:
    """Run the whole spine on the bundled Depresjon data: device side, sealed summaries, the clinic hub."""
    demo.fresh_folder(out)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    console.rule("[bold]1. ingest raw actigraphy (Depresjon)")
    store = Store(out / "store")
    run_ingest([data], store, ReadContext())
    console.rule("[bold]2. daily biomarkers per subject")
    table = run_features(store, out / "features")
    picture = demo_plot(store, table, out / "biomarkers.png")
    console.rule("[bold]3. risk model: nested leave-one-subject-out evaluation, fit, export, sign")
    result, _ = train_artifact(trailing_feature_table(store), store.table("subjects"), out / "model")
    console.print(comparison_table(result))
    team = demo.sign_as_model_team(out / "model")
    console.rule("[bold]4. devices: each subject's phone replays its days and seals one summary a day")
    clinic, recipient, key, secret = demo.clinic_identity(out)
    subjects = sorted({s.subject for s in store.series()})
    patients = demo.enrol_patients(subjects, clinic, now)
    envelopes = demo.replay_devices(store, patients, out / "model", team, recipient, out, now)
    console.print(f"{len(envelopes):,} sealed envelopes from {len(patients)} devices (recordings re-dated to end "
                  "yesterday, local clock times kept)", soft_wrap=True)
    console.rule("[bold]5. clinic hub: intake, directives, triage")
    hub, accepted = demo.run_hub(patients, envelopes, clinic, out / "hub.db", now)
    try:
        token = demo.clinician_token(hub, patients)
        console.print(f"{accepted:,} envelopes accepted; directives by tier: {demo.tier_counts(hub)}")
        console.print(demo.queue_table(hub, patients, now))
        entries = demo.write_fhir(hub, out / "fhir-bundle.json")
    finally:
        hub.close()
    token_file = out / "clinician.token"
    token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    console.rule("[bold]done")
    console.print(f"Look at: {(out / 'store').resolve()} (series, tables, quarantine.jsonl)")
    console.print(f"         {(out / 'features').resolve()}/daily_features.csv and {picture.resolve()}")
    console.print(f"         {(out / 'model').resolve()} (model card, report with ROC and reliability plots)")
    console.print(f"         {(out / 'fhir-bundle.json').resolve()} (FHIR R4 transaction bundle, {entries} entries)")
    console.print("Serve the clinic hub on the demo's database (inbox at http://127.0.0.1:8600/inbox, "
                  f"the clinician's bearer token is in {token_file}):")
    print(f"  {sys.executable} -m mindbridge.hub serve --db sqlite:///{(out / 'hub.db').resolve()} "
          f"--clinic-key {key.resolve()} --passphrase-file {secret.resolve()}")


@app.command("features")
def features_cmd(
    paths: Annotated[list[Path], typer.Argument(help="A series store folder, or raw files/folders to ingest first.")],
    out: Annotated[Path, typer.Option(help="Folder for daily_features.parquet and .csv.")] = Path("features"),
    tz: Annotated[str | None, typer.Option(help="Time zone of raw files whose times carry none.")] = None,
) -> None:
    """Compute the daily biomarker table (one row per subject and local day) for every subject found; when none
    comes out, say why and what to run instead (exit 2)."""
    if len(paths) == 1 and (paths[0] / "series").is_dir():
        store = Store(paths[0])
    else:
        store = Store(out / "store")
        try:
            run_ingest(paths, store, ReadContext(tz=tz))
        except (NothingUsable, FileNotFoundError) as exc:
            nothing_ingested(exc)
    if run_features(store, out).empty:
        err.print(f"[red]{why_no_features(store)}[/]", soft_wrap=True)
        raise typer.Exit(2)


biomarkers_app = typer.Typer(help="Biomarker tools: the feature catalogue, one scorer alone on a file.",
                             no_args_is_help=True)
app.add_typer(biomarkers_app, name="biomarkers")


def read_epochs(path: Path, epoch_s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, grid slots and counts of a `timestamp,activity` CSV; any bad row is an error naming its line."""
    data, _ = read_utf8(path)
    cols = read_columns(path, data, {"timestamp": "timestamp", "activity": "float"})
    problems = [f"{r.where}: {r.reason}" for r in cols.rejected]
    times, counts = cols.columns["timestamp"], cols.columns["activity"]
    checks = [(np.isnat(times), "missing timestamp"), (np.isnan(counts), "missing activity"),
              (counts < 0, "negative activity count")]
    if len(times) and not np.isnat(times[0]):
        offset = (times - times[0]).view(np.int64)
        checks.append((offset % (epoch_s * 1_000_000_000) != 0, f"timestamp is not on the {epoch_s} s epoch grid"))
        checks.append((np.r_[False, np.diff(offset) <= 0], "timestamp not after the previous row's"))
    for bad, why in checks:
        problems += [f"{cols.where(int(i))}: {why}" for i in np.flatnonzero(bad)]
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise NotReadable("; ".join(problems[:5]) + more)
    if not len(times):
        raise NotReadable("no epochs")
    slots = (times - times[0]).view(np.int64) // (epoch_s * 1_000_000_000)
    return times, slots, counts


@biomarkers_app.command("catalogue")
def catalogue_cmd(
    out: Annotated[Path | None, typer.Option(help="Write the Markdown here instead of standard output.")] = None,
) -> None:
    """Print (or write) the documented table of every biomarker family's features: docs/biomarkers.md."""
    text = render_catalogue()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"Wrote {out}")


@biomarkers_app.command("sleep-wake")
def sleep_wake_cmd(
    file: Annotated[Path, typer.Argument(help="CSV with columns timestamp,activity, one row per epoch.")],
    epoch_seconds: Annotated[int, typer.Option(help="Epoch length of the file in seconds.", min=1)],
    method: Annotated[str, typer.Option(help="Scorer: cole-kripke or sadeh.")] = "cole-kripke",
    scale: Annotated[float | None, typer.Option(help="Factor to the reference device's counts "
                                                     "(default: inferred from the counts).")] = None,
) -> None:
    """Score every epoch as sleep or wake; write timestamp,sleep_probability,label CSV to standard output (an epoch
    that cannot be scored, e.g. the half of a minute left at the end of 30-s epochs, is left out and counted)."""
    if method not in METHODS:
        raise typer.BadParameter(f"choose one of {', '.join(METHODS)}", param_hint="--method")
    try:
        times, slots, counts = read_epochs(file, epoch_seconds)
        grid = np.full(int(slots[-1]) + 1, np.nan)
        grid[slots] = counts
        result = score(grid, epoch_seconds, method, scale)
    except (NotReadable, ValueError, OSError) as exc:
        err.print(f"[red]Cannot score {file}:[/] {exc}")
        raise typer.Exit(1) from exc
    probability = result.probability[slots]
    scored = ~np.isnan(probability)  # an epoch the scorer could not see (a part-minute at the end) is left out
    if not scored.all():
        err.print(f"{int((~scored).sum())} epoch(s) left out, unscored: epochs shorter than a minute are scored "
                  "a whole minute at a time, and a minute missing any of its epochs is not scored "
                  f"(first: {pd.Timestamp(times[~scored][0])})")
    labels = np.where(result.sleep[slots][scored] == 1, "sleep", "wake")
    pd.DataFrame({"timestamp": times[scored], "sleep_probability": probability[scored], "label": labels}).to_csv(
        sys.stdout, index=False, float_format="%.4f", lineterminator="\n")


def model_team_signer(keystore: Path, passphrase_file: Path | None) -> Callable[[Path], str]:
    """Unlock the model team's keystore (prompting when no passphrase is given); a function that signs a model
    folder with it and returns the signer's DID. Exits 2, before any training, when the key cannot be used."""
    try:
        passphrase = passphrase_from(passphrase_file) or str(typer.prompt("Keystore passphrase", hide_input=True))
        team = load(keystore, passphrase)
    except (PrivacyError, OSError) as exc:
        err.print(f"[red]cannot sign with {keystore}:[/] {exc}")
        raise typer.Exit(2) from exc
    if team.role != "model-team":
        err.print(f"[red]cannot sign with {keystore}:[/] it holds a {team.role} identity, not a model-team one")
        raise typer.Exit(2)

    def sign(folder: Path) -> str:
        sign_model(folder, team)
        return team.did

    return sign


register_models(app, depresjon_or_exit, model_team_signer)


def main() -> None:
    """Entry point of the `mindbridge` command."""
    app()
