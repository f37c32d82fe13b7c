"""`mindbridge hub …`: init the database, issue tokens, serve the API, verify the audit chain (typer).

The database URL comes from --db or $MINDBRIDGE_HUB_DB (default: a SQLite file in the current folder).
`serve` reads the clinic's keystore passphrase from --passphrase-file or $MINDBRIDGE_PASSPHRASE and runs
uvicorn; with several workers each process builds its own hub from the same settings (`app_from_env`).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, cast

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from ..privacy.keys import ENV_PASSPHRASE, load, passphrase_from
from . import audit
from .app import create_app
from .auth import ROLES, Role, issue_token
from .db import make_engine, migrate, sessions
from .ehr import connect_from_env, write_export
from .service import Hub, Settings, directive_cycle

ENV_DB = "MINDBRIDGE_HUB_DB"
ENV_CLINIC_KEY = "MINDBRIDGE_HUB_CLINIC_KEY"
DEFAULT_DB = "sqlite:///mindbridge-hub.sqlite"

hub_app = typer.Typer(help="The clinic hub: database, tokens, the HTTP service, the audit log.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
hub_app.add_typer(audit_app, name="audit")
console = Console(emoji=False)  # DIDs contain ":key:", which rich would turn into an emoji
err = Console(stderr=True, emoji=False)

Db = Annotated[str, typer.Option("--db", envvar=ENV_DB, help="Database URL: sqlite:///file or postgresql://…")]


def _migrated(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()


@hub_app.command("init")
def init_cmd(db: Db = DEFAULT_DB,
             admin: Annotated[str | None, typer.Option(help="Also create this administrator and print "
                                                       "their token.")] = None) -> None:
    """Create or upgrade the hub's database schema (Alembic migrations)."""
    _migrated(db)
    console.print(f"Database ready: {db.split('@')[-1]}")
    if admin:
        token_cmd(admin, "admin", db)


@hub_app.command("token")
def token_cmd(name: Annotated[str, typer.Argument(help="User name (lowercase).")],
              role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "clinician",
              db: Db = DEFAULT_DB) -> None:
    """Create a user, or give an existing one a new token; the token is printed once and stored hashed."""
    if role not in ROLES:
        raise typer.BadParameter(f"choose one of {', '.join(ROLES)}", param_hint="--role")
    engine = make_engine(db)
    migrate(engine)
    with sessions(engine)() as session:
        try:
            token = issue_token(session, name, cast(Role, role))
        except ValueError as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
        session.commit()
    engine.dispose()
    console.print(f"Token for {role} {name} (shown once, keep it secret):")
    print(token)


@audit_app.command("verify")
def audit_verify_cmd(db: Db = DEFAULT_DB) -> None:
    """Check every entry of the audit chain; exit 1 naming the first altered, inserted or deleted entry."""
    engine = make_engine(db)
    with sessions(engine)() as session:
        verdict = audit.verify(session)
    engine.dispose()
    if not verdict.ok:
        err.print(f"[red]audit log damaged[/] at entry {verdict.first_bad}: {verdict.problem}")
        raise typer.Exit(1)
    console.print(f"audit log intact: {verdict.entries} entries; head {verdict.head}")


@hub_app.command("fhir-export")
def fhir_export_cmd(out: Annotated[Path, typer.Option(help="File for the FHIR R4 transaction Bundle (JSON).")],
                    db: Db = DEFAULT_DB) -> None:
    """Write every directive as one FHIR R4 transaction bundle (conditional creates: safe to push again)."""
    engine = make_engine(db)
    migrate(engine)
    with sessions(engine)() as session:
        directives, entries = write_export(session, out, "cli")
    engine.dispose()
    console.print(f"{directives} directive(s) as {entries} bundle entries written to {out}")


@hub_app.command("cycle")
def cycle_cmd(db: Db = DEFAULT_DB,
              now: Annotated[str | None, typer.Option(help="Evaluate as of this time, ISO 8601 with a zone "
                                                      "(e.g. 2026-11-27T09:00:00Z); default: now.")] = None) -> None:
    """Run the directive cycle for every enrolled patient (a lost signal sends no envelope: only a cycle sees it)."""
    try:
        at = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
    except ValueError as exc:
        raise typer.BadParameter(f"{now!r} is not an ISO 8601 time", param_hint="--now") from exc
    if at.tzinfo is None:
        raise typer.BadParameter(f"{now!r} has no time zone; add Z or an offset such as +01:00", param_hint="--now")
    engine = make_engine(db)
    migrate(engine)
    factory = sessions(engine)
    changed = directive_cycle(Settings(database_url=db), factory).run_all(at)
    with factory() as session:
        audit.record(session, "cli", "admin.cycle", "Hub/cycle", "ok", {"now": at.isoformat(), "changed": changed})
        session.commit()
    engine.dispose()
    console.print(f"Directive cycle as of {at.isoformat()}: {changed} queue item(s) changed")


def _passphrase(path: Path | None) -> str:
    if passphrase := passphrase_from(path):
        return passphrase
    raise typer.BadParameter(f"give a non-empty --passphrase-file or set ${ENV_PASSPHRASE}",
                             param_hint="--passphrase-file")


def app_from_env() -> FastAPI:
    """The app built from $MINDBRIDGE_HUB_DB, $MINDBRIDGE_HUB_CLINIC_KEY and $MINDBRIDGE_PASSPHRASE."""
    clinic = load(Path(os.environ[ENV_CLINIC_KEY]), os.environ[ENV_PASSPHRASE])
    return connect_from_env(create_app(Hub.start(Settings(database_url=os.environ[ENV_DB]), clinic),
                                       close_on_shutdown=True))


@hub_app.command("serve")
def serve_cmd(
    clinic_key: Annotated[Path, typer.Option(envvar=ENV_CLINIC_KEY, help="The clinic's keystore.")],
    db: Db = DEFAULT_DB,
    passphrase_file: Annotated[Path | None, typer.Option(help=f"File whose first line is the passphrase "
                                                         f"(else ${ENV_PASSPHRASE}).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the hub's HTTP API (intake, consents, patients, queue, admin, inbox) with uvicorn."""
    passphrase = _passphrase(passphrase_file)
    load(clinic_key, passphrase)  # fail here, clearly, on a wrong passphrase or damaged keystore
    _migrated(db)
    os.environ.update({ENV_DB: db, ENV_CLINIC_KEY: str(clinic_key.resolve()), ENV_PASSPHRASE: passphrase})
    console.print(f"mindbridge hub on http://{host}:{port} ({workers} worker(s)) at "
                  f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%SZ}")
    uvicorn.run("mindbridge.hub.commands:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add `hub` to the `mindbridge` command."""
    app.add_typer(hub_app, name="hub")
