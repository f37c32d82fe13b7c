"""`mindbridge edge init|day|replay|bench`: the on-device runtime from the terminal (typer + rich).

Also runnable alone as `python -m mindbridge.device`, which imports only the edge's lean dependencies.
Passphrases come from --passphrase-file or the MINDBRIDGE_PASSPHRASE environment variable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..edge.engine import DayRefused, EdgeEngine, split_days
from ..edge.model_loader import ModelRefused
from ..edge.replay import replay, write_envelope
from ..edge.state import DEFAULT_WINDOW_DAYS, StateError
from ..privacy.did import Resolver
from ..privacy.envelope import Recipient
from ..privacy.errors import PrivacyError
from ..privacy.keys import ENV_PASSPHRASE, Identity, load, passphrase_from
from ..sources.depresjon_lean import DEFAULT_TZ, DEVICE, DepresjonFormatError, read_depresjon_csv
from ..sources.quarantine import append_jsonl

app = typer.Typer(help="The on-device runtime: daily features, verified model, sealed risk summaries.",
                  no_args_is_help=True)
console = Console(emoji=False)  # DIDs contain ":key:", which rich would turn into an emoji
err = Console(stderr=True, emoji=False)

StateOpt = Annotated[Path, typer.Option(help="The patient's edge state file.")]
ModelOpt = Annotated[Path, typer.Option(help="Model folder (model.json, card.json, signature.json).")]
DeviceKey = Annotated[Path, typer.Option(help="The device's keystore.")]
PassFile = Annotated[Path | None, typer.Option("--passphrase-file", help="File whose first line is the passphrase "
                                               f"(else ${ENV_PASSPHRASE}).")]
ToOpt = Annotated[str, typer.Option("--to", help="The clinic's did:web.")]
DidDir = Annotated[Path, typer.Option(help="Local folder of did:web documents (<host>/<path>/did.json).")]
OutOpt = Annotated[Path, typer.Option(help="Folder for the sealed envelopes (<day>.envelope.json).")]


def device_identity(key: Path, passphrase_file: Path | None) -> Identity:
    """Unlock the device keystore with the passphrase from the file or the environment."""
    return load(key, passphrase_from(passphrase_file))


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    err.print(f"[red]{type(exc).__name__}:[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(code)


def _engine(state: Path, model: Path, device_key: Path, passphrase_file: Path | None, to: str,
            did_dir: Path) -> EdgeEngine:
    device = device_identity(device_key, passphrase_file)
    return EdgeEngine.open(state, model, device, Recipient.of(Resolver.from_directory(did_dir).resolve(to)))


@app.command("init")
def init_cmd(state: StateOpt, model: ModelOpt, device_key: DeviceKey, passphrase_file: PassFile = None,
             tz: Annotated[str, typer.Option(help="The device's time zone (IANA name).")] = DEFAULT_TZ,
             source: Annotated[str, typer.Option(help="The wearable's name.")] = DEVICE,
             model_signer: Annotated[list[str] | None, typer.Option(
                 help="did:key of the model team; repeatable. Given: only signed models load.")] = None,
             window_days: Annotated[int, typer.Option(
                 help="Days of minute counts kept: 7, as in the model's training features; more reads the "
                      "non-wear level over more days.", min=7)] = DEFAULT_WINDOW_DAYS,
             ) -> None:
    """Create a patient's edge state, checking the model verifies."""
    try:
        device = device_identity(device_key, passphrase_file)
        created = EdgeEngine.init(state, model, device, tz=tz, source=source, signers=model_signer or (),
                                  window_days=window_days)
    except (StateError, ModelRefused, PrivacyError) as exc:
        raise _fail(exc) from exc
    console.print(f"edge state for {created.subject} → {state} (model {created.model_id} {created.model_version})")


def _feed(engine: EdgeEngine, csv: Path, out: Path, answers: dict[str, float] | None, single: bool) -> None:
    read = read_depresjon_csv(csv, engine.state.subject, engine.state.tz)
    if read.rejected:
        quarantine = engine.state_path.with_name(engine.state_path.name + ".quarantine.jsonl")
        append_jsonl(quarantine, read.rejected)
        console.print(f"[yellow]{len(read.rejected)} line(s) quarantined[/] → {quarantine}")
    if single:
        last = engine.state.last_day
        todo = [(d, part) for d, part in split_days(read.series) if last is None or d > last]
        if len(todo) != 1:
            raise DayRefused(f"{csv}: holds {len(todo)} new local day(s) ({', '.join(str(d) for d, _ in todo[:5])});"
                             " `edge day` takes exactly one (use `edge replay` for a recording)")
        result = engine.process_day(*todo[0], answers, deliver=lambda sealed: write_envelope(sealed, out))
        days, sealed = 1, int(result.envelope is not None)
    else:
        report = replay(engine, read.series, out)
        days, sealed = report.days, report.sealed
    console.print(f"{days} day(s) processed, {sealed} summary envelope(s) sealed → {out}; "
                  f"last day {engine.state.last_day}, sequence {engine.state.seq}")


@app.command("day")
def day_cmd(csv: Annotated[Path, typer.Argument(help="One local day of Depresjon-format minute counts.")],
            state: StateOpt, model: ModelOpt, device_key: DeviceKey, to: ToOpt, did_dir: DidDir, out: OutOpt,
            answers: Annotated[Path | None, typer.Option(
                help="JSON object of questionnaire answers that day: LOINC item code → 0–3.")] = None,
            passphrase_file: PassFile = None) -> None:
    """Process one new day: update the state, build the summary, seal it to the clinic."""
    try:
        parsed = json.loads(answers.read_text(encoding="utf-8")) if answers else None
        if parsed is not None and not isinstance(parsed, dict):
            raise ValueError(f"{answers}: expected a JSON object of item code → answer")
        _feed(_engine(state, model, device_key, passphrase_file, to, did_dir), csv, out, parsed, single=True)
    except (StateError, ModelRefused, PrivacyError, DayRefused, DepresjonFormatError, ValueError) as exc:
        raise _fail(exc) from exc


@app.command("replay")
def replay_cmd(csv: Annotated[Path, typer.Argument(help="A Depresjon-format recording (many days).")],
               state: StateOpt, model: ModelOpt, device_key: DeviceKey, to: ToOpt, did_dir: DidDir, out: OutOpt,
               passphrase_file: PassFile = None) -> None:
    """Feed a recording day by day after the state's last day, sealing one envelope per summarised day."""
    try:
        _feed(_engine(state, model, device_key, passphrase_file, to, did_dir), csv, out, None, single=False)
    except (StateError, ModelRefused, PrivacyError, DayRefused, DepresjonFormatError) as exc:
        raise _fail(exc) from exc


@app.command("bench")
def bench_cmd(csv: Annotated[Path, typer.Argument(help="A Depresjon-format recording.")], model: ModelOpt,
              rounds: Annotated[int, typer.Option(help="Replays of the recording.", min=1)] = 3,
              model_signer: Annotated[list[str] | None, typer.Option(help="Trusted model signer; repeatable.")] = None,
              ) -> None:
    """Measure CPU per patient-day, this process's peak memory, state and model size; print one JSON object."""
    from .measure import bench_recording

    try:
        print(json.dumps(bench_recording(csv, model, rounds, model_signer or ())))
    except (StateError, ModelRefused, DepresjonFormatError) as exc:
        raise _fail(exc) from exc
