"""The privacy commands: `keys`, `consent`, `seal`, `open`, `research-export` (typer).

`register(app, schema)` adds them to the `mindbridge` command; the payload schema is passed in so this
package imports nothing else from mindbridge. Passphrases come from --passphrase-file, the
MINDBRIDGE_PASSPHRASE environment variable, or a hidden prompt, and are never printed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from pydantic import BaseModel
from rich.console import Console

from .consent import (
    STATUS_BITS,
    ConsentBook,
    Scope,
    issue_grant,
    new_status_list,
    read_grant,
    read_status_list,
    to_fhir_consent,
)
from .deidentify import family_by_prefix, read_table, research_export
from .did import Resolver, did_web_url, web_document
from .envelope import Opener, Recipient, seal
from .errors import MalformedInput, PrivacyError
from .keys import ENV_PASSPHRASE, ROLES, Identity, Role, load, passphrase_from, public_info, save
from .replay import SqliteReplayGuard
from .rotation import DeviceList, Roster, verify_device_list

console = Console(emoji=False)  # DIDs contain ":key:", which rich would turn into an emoji
err = Console(stderr=True, emoji=False)

keys_app = typer.Typer(help="Identities: encrypted keystores, device enrolment and retirement.", no_args_is_help=True)
consent_app = typer.Typer(help="Consent grants: grant, revoke, show (with the FHIR R4 Consent).", no_args_is_help=True)

PassFile = Annotated[Path | None, typer.Option("--passphrase-file", help=f"File whose first line is the "
                                               f"passphrase (else ${ENV_PASSPHRASE}, else a prompt).")]
PatientKey = Annotated[Path, typer.Option("--patient-key", help="The patient's keystore.")]


def _passphrase(path: Path | None, confirm: bool = False) -> str:
    if path is not None or os.environ.get(ENV_PASSPHRASE):
        return passphrase_from(path)
    return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))


def _refused(exc: PrivacyError) -> typer.Exit:
    err.print(f"[red]refused[/] ({exc.code}): {exc}")
    return typer.Exit(2)


@keys_app.command("init")
def keys_init(
    path: Annotated[Path, typer.Argument(help="Keystore file to create.")],
    role: Annotated[str, typer.Option(help="patient, device, clinic or model-team (signs models).")] = "patient",
    did_web: Annotated[str | None, typer.Option(help="The clinic's did:web (clinics only).")] = None,
    patient: Annotated[str | None, typer.Option(help="The patient's DID (devices only).")] = None,
    publish: Annotated[Path | None, typer.Option(help="Folder to write the clinic's DID document into, "
                                                 "laid out as <host>/<path>/did.json.")] = None,
    passphrase_file: PassFile = None,
) -> None:
    """Create a new identity in an encrypted keystore."""
    if path.exists():
        err.print(f"[red]{path} exists[/]; refusing to overwrite a keystore")
        raise typer.Exit(1)
    if role not in ROLES:
        err.print(f"[red]--role must be one of {', '.join(ROLES)}, got {role!r}")
        raise typer.Exit(1)
    try:
        identity = Identity.generate(cast(Role, role), web_did=did_web, patient=patient)
        save(identity, path, _passphrase(passphrase_file, confirm=True))
    except PrivacyError as exc:
        raise _refused(exc) from exc
    console.print(f"{identity.role} {identity.did} → {path}")
    if identity.role == "clinic" and publish is not None:
        assert identity.agreement is not None
        doc = web_document(identity.did, identity.signing.public_key(), identity.agreement.public_key())
        target = publish / did_web_url(identity.did).removeprefix("https://")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc.to_json(), indent=1) + "\n", encoding="utf-8")
        console.print(f"DID document → {target}")


@keys_app.command("show")
def keys_show(path: Annotated[Path, typer.Argument(help="Keystore file.")]) -> None:
    """Print a keystore's role and DID (no passphrase needed; no key material is shown)."""
    try:
        console.print_json(data=public_info(path))
    except PrivacyError as exc:
        raise _refused(exc) from exc


def _update_devices(device: str, patient_key: Path, devices: Path, passphrase_file: Path | None,
                    action: Literal["enrol", "retire"]) -> None:
    try:
        patient = load(patient_key, _passphrase(passphrase_file))
        current = (verify_device_list(devices.read_text(encoding="utf-8"), patient.did) if devices.exists()
                   else DeviceList(patient.did, 0))
        now = dt.datetime.now(dt.UTC)
        new = current.enrol(device, now) if action == "enrol" else current.retire(device, now)
        devices.write_text(new.sign(patient) + "\n", encoding="utf-8")
    except PrivacyError as exc:
        raise _refused(exc) from exc
    console.print(f"device list of {patient.did} v{new.version}: {action} {device} → {devices}")


@keys_app.command("enrol")
def keys_enrol(device: Annotated[str, typer.Argument(help="The device's did:key.")], patient_key: PatientKey,
               devices: Annotated[Path, typer.Option(help="The signed device list (created if absent).")],
               passphrase_file: PassFile = None) -> None:
    """Add a device key to the patient's signed device list."""
    _update_devices(device, patient_key, devices, passphrase_file, "enrol")


@keys_app.command("retire")
def keys_retire(device: Annotated[str, typer.Argument(help="The device's did:key.")], patient_key: PatientKey,
                devices: Annotated[Path, typer.Option(help="The signed device list.")],
                passphrase_file: PassFile = None) -> None:
    """Retire a device key: envelopes it signs from now on are refused."""
    _update_devices(device, patient_key, devices, passphrase_file, "retire")


@consent_app.command("grant")
def consent_grant(
    patient_key: PatientKey,
    grantee: Annotated[str, typer.Option(help="The grantee's DID (a clinic's did:web).")],
    status: Annotated[Path, typer.Option(help="The patient's signed status list (created if absent).")],
    out: Annotated[Path, typer.Option(help="Where to write the grant (JWT).")],
    purpose: Annotated[str, typer.Option(help="treatment or research.")] = "treatment",
    family: Annotated[list[str] | None, typer.Option(help="A biomarker family covered (repeat).")] = None,
    output: Annotated[list[str] | None, typer.Option(help="An output covered: risk, deviations, coverage, "
                                                     "surveys, daily_features (repeat).")] = None,
    days: Annotated[int, typer.Option(min=1, max=3660, help="Validity in days.")] = 180,
    passphrase_file: PassFile = None,
) -> None:
    """Sign a consent grant for a grantee, purpose and scope."""
    try:
        if purpose not in ("treatment", "research"):
            raise MalformedInput(f"--purpose must be treatment or research, got {purpose!r}")
        patient = load(patient_key, _passphrase(passphrase_file))
        now = dt.datetime.now(dt.UTC)
        if status.exists():
            held = read_status_list(status.read_text(encoding="utf-8"))
        else:
            held = new_status_list(patient.did)
            status.write_text(held.sign(patient, now) + "\n", encoding="utf-8")
        index = secrets.randbelow(STATUS_BITS)
        token = issue_grant(patient, grantee, "research" if purpose == "research" else "treatment",
                            Scope.of(family or [], output or ["risk"]), now + dt.timedelta(days=days),
                            held.id, index, now)
    except PrivacyError as exc:
        raise _refused(exc) from exc
    out.write_text(token + "\n", encoding="utf-8")
    console.print(f"consent {read_grant(token).id} for {grantee} ({purpose}) → {out}")


@consent_app.command("revoke")
def consent_revoke(grant: Annotated[Path, typer.Argument(help="The grant (JWT) to revoke.")], patient_key: PatientKey,
                   status: Annotated[Path, typer.Option(help="The patient's signed status list.")],
                   passphrase_file: PassFile = None) -> None:
    """Revoke a grant by setting its bit in the patient's status list and re-signing the list."""
    try:
        patient = load(patient_key, _passphrase(passphrase_file))
        held = read_grant(grant.read_text(encoding="utf-8"))
        current = read_status_list(status.read_text(encoding="utf-8"))
        if held.patient != patient.did or current.id != held.status_list:
            raise MalformedInput("this grant is not the patient's, or not on this status list")
        status.write_text(current.revoke(held.status_index).sign(patient) + "\n", encoding="utf-8")
    except PrivacyError as exc:
        raise _refused(exc) from exc
    console.print(f"consent {held.id} revoked in {status}")


@consent_app.command("show")
def consent_show(grant: Annotated[Path, typer.Argument(help="The grant (JWT).")],
                 status: Annotated[Path | None, typer.Option(help="The status list, to show revocation.")] = None,
                 fhir: Annotated[bool, typer.Option(help="Print the FHIR R4 Consent resource.")] = False) -> None:
    """Verify a grant and print it (or its FHIR R4 Consent)."""
    try:
        held = read_grant(grant.read_text(encoding="utf-8"))
        revoked = status is not None and read_status_list(status.read_text(encoding="utf-8")).revoked(
            held.status_index)
    except PrivacyError as exc:
        raise _refused(exc) from exc
    if fhir:
        console.print_json(data=to_fhir_consent(held, revoked))
        return
    console.print_json(data={"id": held.id, "patient": held.patient, "grantee": held.grantee,
                             "purpose": held.purpose, "scope": held.scope.to_json(),
                             "expires": held.expires.isoformat(), "revoked": revoked})


def seal_cmd(
    summary: Annotated[Path, typer.Argument(help="The RiskSummary JSON to send.")],
    device_key: Annotated[Path, typer.Option(help="The device's keystore.")],
    to: Annotated[str, typer.Option(help="The clinic's did:web.")],
    did_dir: Annotated[Path, typer.Option(help="Local folder of did:web documents (<host>/<path>/did.json).")],
    out: Annotated[Path, typer.Option(help="Where to write the envelope.")],
    passphrase_file: PassFile = None,
) -> None:
    """Sign and seal a summary to a clinic; the device's sequence number is kept in <keystore>.seq."""
    seq_file = device_key.with_name(device_key.name + ".seq")
    try:
        device = load(device_key, _passphrase(passphrase_file))
        recipient = Recipient.of(Resolver.from_directory(did_dir).resolve(to))
        seq = int(seq_file.read_text()) + 1 if seq_file.exists() else 1
        payload = json.loads(summary.read_text(encoding="utf-8"))
        envelope = seal(payload, device, recipient, seq)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        err.print(f"[red]{summary}: not JSON ({exc})")
        raise typer.Exit(1) from exc
    except PrivacyError as exc:
        raise _refused(exc) from exc
    out.write_bytes(envelope)
    seq_file.write_text(str(seq))
    console.print(f"sealed {len(envelope):,} bytes to {recipient.kid} (sequence {seq}) → {out}")


def _open_cmd(schema: type[BaseModel]) -> Callable[..., None]:
    def open_cmd(
        envelope: Annotated[Path, typer.Argument(help="The envelope to open.")],
        clinic_key: Annotated[Path, typer.Option(help="The clinic's keystore.")],
        devices: Annotated[list[Path], typer.Option(help="A patient's signed device list (repeat).")],
        grant: Annotated[list[Path], typer.Option(help="A consent grant held by the clinic (repeat).")],
        status: Annotated[list[Path], typer.Option(help="A patient's status list (repeat).")],
        replay_db: Annotated[Path, typer.Option(help="SQLite file of seen envelopes.")],
        out: Annotated[Path, typer.Option(help="Where to write the opened summary (JSON).")],
        passphrase_file: PassFile = None,
    ) -> None:
        """Open an envelope: signature, recipient, time window, replay, device list, schema and consent."""
        guard = SqliteReplayGuard(replay_db)
        try:
            clinic = load(clinic_key, _passphrase(passphrase_file))
            roster, book = Roster(), ConsentBook(clinic.did, "treatment")
            for path in devices:
                roster.update(path.read_text(encoding="utf-8"))
            for path in grant:
                book.add_grant(path.read_text(encoding="utf-8"))
            for path in status:
                book.update_status(path.read_text(encoding="utf-8"))
            opened = Opener.for_clinic(clinic, roster, guard, schema, book).open(envelope.read_bytes())
        except PrivacyError as exc:
            raise _refused(exc) from exc
        finally:
            guard.close()
        out.write_text(opened.payload.model_dump_json(indent=1) + "\n", encoding="utf-8")
        console.print(f"accepted envelope {opened.header.id} from {opened.header.sender} → {out}")

    return open_cmd


def export_cmd(
    table: Annotated[Path, typer.Argument(help="Daily feature table (Parquet or CSV) with subject and date.")],
    subjects: Annotated[Path, typer.Option(help="JSON object mapping each subject id to the patient's DID.")],
    exporter: Annotated[str, typer.Option(help="The exporter's DID (the research grants' grantee).")],
    grant: Annotated[list[Path], typer.Option(help="A research consent grant (repeat).")],
    status: Annotated[list[Path], typer.Option(help="A patient's status list (repeat).")],
    secret_file: Annotated[Path, typer.Option(help="The exporter's secret (≥ 16 bytes) for pseudonyms and "
                                              "date shifts.")],
    out: Annotated[Path, typer.Option(help="Output table (.csv or .parquet).")],
) -> None:
    """Export a de-identified feature table for research, only for subjects with a valid research grant."""
    try:
        book = ConsentBook(exporter, "research")
        for path in grant:
            book.add_grant(path.read_text(encoding="utf-8"))
        for path in status:
            book.update_status(path.read_text(encoding="utf-8"))
        mapping = json.loads(subjects.read_text(encoding="utf-8"))
        result = research_export(read_table(table), mapping, book, secret_file.read_bytes(), family_by_prefix)
    except json.JSONDecodeError as exc:
        err.print(f"[red]{subjects}: not JSON ({exc})")
        raise typer.Exit(1) from exc
    except PrivacyError as exc:
        raise _refused(exc) from exc
    for col, why in result.dropped_columns.items():
        console.print(f"dropped column {col}: {why}")
    for subject, why in result.refused_subjects.items():
        console.print(f"[yellow]left out[/] {subject}: {why}")
    if out.suffix == ".parquet":
        result.table.to_parquet(out, index=False)
    else:
        result.table.to_csv(out, index=False)
    console.print(f"{len(result.table):,} row(s) of {result.table['subject'].nunique()} subject(s) → {out}")


def register(app: typer.Typer, schema: type[BaseModel]) -> None:
    """Add the privacy commands to the `mindbridge` app; `schema` validates opened payloads."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(consent_app, name="consent")
    app.command("seal")(seal_cmd)
    app.command("open")(_open_cmd(schema))
    app.command("research-export")(export_cmd)

