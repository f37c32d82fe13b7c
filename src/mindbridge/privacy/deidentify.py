"""De-identified research export of daily feature tables, under research consent only.

Each subject needs a valid research grant to the exporter (see `consent.ConsentBook`) whose scope
covers the output "daily_features" and every biomarker family exported; other subjects are left out
and reported. HIPAA Safe Harbor (45 CFR 164.514(b)(2)) identifiers are handled thus:
- columns whose whole name (case-insensitive, separators normalised to "_") is in `IDENTIFIER_COLUMNS`
  are dropped (names, sub-state geography, dates other than `date`, contact numbers and addresses,
  record/plan/account/licence/vehicle/device numbers, URLs, IP addresses, biometrics, photos, ids);
- every non-numeric column other than `subject` and `date` is dropped (free text can name people);
- `subject` becomes a keyed pseudonym, HMAC-SHA256(secret, subject), 20 hex digits;
- `date` is shifted per subject by a whole number of weeks (±1–52, so weekdays are kept), derived from
  HMAC-SHA256(secret, subject): the same subject always gets the same shift, nobody without the secret
  can undo it. Safe Harbor proper keeps only years; shifted dates are the usual research compromise
  and are documented as such in docs/privacy.md;
- ages above 89 (columns named `age`, `age_years`) become 90, meaning "90 or older".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from .consent import ConsentBook, Scope
from .errors import ConsentRefused, MalformedInput

OUTPUT = "daily_features"
AGE_COLUMNS = frozenset({"age", "age_years"})
IDENTIFIER_COLUMNS = frozenset({
    # (A) names
    "name", "first_name", "last_name", "full_name", "patient_name", "given_name", "family_name",
    # (B) geography smaller than a state
    "address", "street", "city", "county", "zip", "zipcode", "zip_code", "postcode", "postal_code",
    "latitude", "longitude", "lat", "lon", "lng", "geohash",
    # (C) dates other than the shifted day
    "birth_date", "birthdate", "dob", "date_of_birth", "admission_date", "discharge_date", "death_date",
    # (D)-(F) telephone, fax, e-mail
    "phone", "phone_number", "telephone", "mobile", "fax", "email", "e_mail",
    # (G)-(L) SSN, medical record, health plan, account, licence, vehicle numbers
    "ssn", "social_security_number", "mrn", "medical_record_number", "health_plan", "health_plan_id",
    "insurance_id", "account", "account_number", "license", "licence", "license_number", "vehicle", "vin",
    "license_plate",
    # (M)-(O) device identifiers, URLs, IP addresses
    "device_id", "serial", "serial_number", "imei", "mac", "mac_address", "url", "ip", "ip_address",
    # (P)-(R) biometrics, photos, other unique identifiers
    "fingerprint", "voiceprint", "photo", "image", "face", "pid", "patient_id", "user_id", "study_id", "did",
    "uuid",
})


def _normal(column: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


def family_by_prefix(column: str) -> str | None:
    """A feature column's family from its name: `coverage_<f>`, `f_<f>:…` (RAPIDS) or `<f>:…`."""
    if column.startswith("coverage_"):
        return column.removeprefix("coverage_")
    head, sep, _ = column.partition(":")
    return (head.removeprefix("f_") or None) if sep else None


def _hmac(secret: bytes, label: bytes, subject: str) -> bytes:
    mac = HMAC(secret, hashes.SHA256())
    mac.update(label + b"\0" + subject.encode("utf-8"))
    return mac.finalize()


def pseudonym(secret: bytes, subject: str) -> str:
    """The keyed pseudonym of a subject id."""
    return _hmac(secret, b"pseudonym", subject).hex()[:20]


def date_shift(secret: bytes, subject: str) -> dt.timedelta:
    """The subject's secret date shift: ±1 to ±52 whole weeks."""
    value = int.from_bytes(_hmac(secret, b"date-shift", subject)[:8], "big")
    weeks = 1 + value % 52
    return dt.timedelta(weeks=weeks if (value >> 32) & 1 else -weeks)


@dataclass
class Export:
    """A de-identified table and what was left out, with reasons."""

    table: pd.DataFrame
    refused_subjects: dict[str, str] = field(default_factory=dict)
    dropped_columns: dict[str, str] = field(default_factory=dict)


def research_export(table: pd.DataFrame, subjects: Mapping[str, str], consent: ConsentBook, secret: bytes,
                    family_of: Callable[[str], str | None] = family_by_prefix,
                    now: dt.datetime | None = None) -> Export:
    """De-identify `table` (columns subject, date, features) for the subjects whose research consent holds.

    `subjects` maps each subject id in the table to the patient's DID.
    """
    if consent.purpose != "research":
        raise MalformedInput("a research export needs a research consent book")
    if len(secret) < 16:
        raise MalformedInput("the exporter's secret must be at least 16 bytes")
    for needed in ("subject", "date"):
        if needed not in table.columns:
            raise MalformedInput(f"feature table has no {needed!r} column (columns: {list(table.columns)[:8]})")
    try:
        dates = pd.to_datetime(table["date"])
    except (ValueError, TypeError) as exc:
        raise MalformedInput(f"feature table column 'date' is not dates: {exc}") from exc
    now = now or dt.datetime.now(dt.UTC)
    out = Export(table)
    keep = []
    for col in table.columns.drop(["subject", "date"]):
        if _normal(str(col)) in IDENTIFIER_COLUMNS:
            out.dropped_columns[col] = "HIPAA Safe Harbor identifier"
        elif not pd.api.types.is_numeric_dtype(table[col]) or pd.api.types.is_bool_dtype(table[col]):
            out.dropped_columns[col] = "non-numeric column (could hold free text)"
        elif _normal(str(col)) not in AGE_COLUMNS and family_of(str(col)) is None:
            out.dropped_columns[col] = "no biomarker family known, so no consent can cover it"
        else:
            keep.append(col)
    needs = Scope(frozenset(f for c in keep if (f := family_of(str(c))) is not None), frozenset({OUTPUT}))
    parts = []
    for subject, rows in table.groupby("subject", sort=True):
        sid = str(subject)
        try:
            if sid not in subjects:
                raise ConsentRefused(f"subject {sid} has no known patient DID")
            consent(subjects[sid], needs, now)
        except ConsentRefused as exc:
            out.refused_subjects[sid] = str(exc)
            continue
        part = rows[keep].copy()
        for col in keep:
            if _normal(str(col)) in AGE_COLUMNS:
                part[col] = part[col].where(~(part[col] > 89), 90)
        part.insert(0, "date", dates.loc[rows.index] + date_shift(secret, sid))
        part.insert(0, "subject", pseudonym(secret, sid))
        parts.append(part)
    columns = ["subject", "date", *keep]
    out.table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return out


def read_table(path: Path) -> pd.DataFrame:
    """A daily feature table from Parquet or CSV."""
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
            return table.reset_index() if "date" not in table.columns and table.index.name == "date" else table
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise MalformedInput(f"{path}: cannot read a feature table ({exc})") from exc
