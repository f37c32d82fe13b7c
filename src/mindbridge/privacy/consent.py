"""Consent: grants a patient signs, revocation through a signed status list, and the FHIR R4 mapping.

A grant is a JWT (`typ` "consent+jwt") signed by the patient's did:key: the grantee's DID (`aud`), a
purpose (treatment | research), a scope (biomarker families and summary outputs), validity (`nbf`,
`exp`) and a `credentialStatus` entry pointing at a bit of the patient's status list. The status list
(`typ` "status-list+jwt") has the W3C Bitstring Status List shape: `credentialSubject.encodedList` is
"u" + base64url(gzip(bitstring)), bit 0 the most significant bit of byte 0, at least 131,072 bits so one
revocation does not single a grant out. A set bit means revoked.
"""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, cast

from .did import check_did, ed25519_of_did_key
from .errors import (
    ConsentExpired,
    ConsentRefused,
    ConsentRevoked,
    ConsentScope,
    ConsentWrongGrantee,
    ConsentWrongPatient,
    MalformedInput,
)
from .keys import Identity, b64, unb64
from .tokens import sign, unverified, verify

Purpose = Literal["treatment", "research"]
PURPOSES: tuple[Purpose, ...] = ("treatment", "research")
GRANT_TYP = "consent+jwt"
STATUS_TYP = "status-list+jwt"
STATUS_BITS = 131_072
MAX_STATUS_AGE = dt.timedelta(days=7)
LEEWAY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Scope:
    """What a grant covers: biomarker families and summary outputs."""

    families: frozenset[str] = frozenset()
    outputs: frozenset[str] = frozenset()

    @classmethod
    def of(cls, families: object = (), outputs: object = ()) -> Scope:
        """A scope from two lists of names (validated)."""
        for name, items in (("families", families), ("outputs", outputs)):
            if not isinstance(items, list | tuple | set | frozenset) or not all(
                    isinstance(i, str) and 0 < len(i) <= 64 for i in items):
                raise MalformedInput(f"scope.{name} must be a list of short names")
        return cls(frozenset(cast(list[str], families)), frozenset(cast(list[str], outputs)))

    def missing(self, needed: Scope) -> Scope:
        """What `needed` asks for that this scope does not cover."""
        return Scope(needed.families - self.families, needed.outputs - self.outputs)

    def to_json(self) -> dict[str, list[str]]:
        """The scope as JSON-ready lists."""
        return {"families": sorted(self.families), "outputs": sorted(self.outputs)}


@dataclass(frozen=True)
class Grant:
    """A verified consent grant."""

    id: str
    patient: str
    grantee: str
    purpose: Purpose
    scope: Scope
    issued: dt.datetime
    not_before: dt.datetime
    expires: dt.datetime
    status_list: str
    status_index: int


def issue_grant(patient: Identity, grantee: str, purpose: Purpose, scope: Scope, expires: dt.datetime,
                status_list: str, status_index: int, now: dt.datetime | None = None) -> str:
    """A consent grant JWT signed by the patient."""
    now = now or dt.datetime.now(dt.UTC)
    check_did(grantee)
    if purpose not in PURPOSES:
        raise MalformedInput(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if not 0 <= status_index < STATUS_BITS:
        raise MalformedInput(f"status index must be in [0, {STATUS_BITS}), got {status_index}")
    if expires <= now:
        raise MalformedInput("a grant must expire after it is issued")
    claims: dict[str, object] = {
        "iss": patient.did, "sub": patient.did, "aud": grantee, "jti": f"urn:uuid:{uuid.uuid4()}",
        "iat": int(now.timestamp()), "nbf": int(now.timestamp()), "exp": int(expires.timestamp()),
        "purpose": purpose, "scope": scope.to_json(),
        "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation",
                             "statusListIndex": str(status_index), "statusListCredential": status_list}}
    return sign(claims, patient.signing, GRANT_TYP, patient.did)


def read_grant(token: str) -> Grant:
    """Verify a grant's signature against its issuer's did:key and return it (validity not checked)."""
    _, peek = unverified(token, GRANT_TYP)
    issuer = check_did(peek.get("iss"))
    claims = verify(token, ed25519_of_did_key(issuer), GRANT_TYP)
    try:
        status = cast(dict[str, object], claims["credentialStatus"])
        scope = cast(dict[str, object], claims["scope"])
        purpose = claims["purpose"]
        if purpose not in PURPOSES:
            raise MalformedInput(f"consent grant: unknown purpose {purpose!r}")
        if claims["sub"] != issuer:
            raise ConsentWrongPatient("consent grant: a patient can only grant consent about themselves")
        return Grant(id=str(claims["jti"]), patient=issuer, grantee=check_did(claims["aud"]),
                     purpose=cast(Purpose, purpose), scope=Scope.of(scope["families"], scope["outputs"]),
                     issued=_time(claims["iat"]), not_before=_time(claims["nbf"]), expires=_time(claims["exp"]),
                     status_list=str(status["statusListCredential"]),
                     status_index=int(cast(str, status["statusListIndex"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedInput(f"consent grant: missing or malformed claim ({exc})") from exc


def _time(value: object) -> dt.datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedInput(f"time claims must be integers (seconds since the epoch), got {value!r}")
    return dt.datetime.fromtimestamp(value, dt.UTC)


@dataclass(frozen=True)
class StatusList:
    """A patient's revocation bitstring."""

    id: str
    issuer: str
    bits: bytes = bytes(STATUS_BITS // 8)
    issued: dt.datetime | None = None

    def revoked(self, index: int) -> bool:
        """True if the bit at `index` is set."""
        if not 0 <= index < len(self.bits) * 8:
            raise MalformedInput(f"status index {index} is outside the list of {len(self.bits) * 8} bits")
        return bool(self.bits[index // 8] & (0x80 >> (index % 8)))

    def revoke(self, index: int) -> StatusList:
        """A copy with the bit at `index` set."""
        self.revoked(index)
        bits = bytearray(self.bits)
        bits[index // 8] |= 0x80 >> (index % 8)
        return replace(self, bits=bytes(bits))

    def sign(self, patient: Identity, now: dt.datetime | None = None) -> str:
        """The list as a JWT signed by the patient."""
        if patient.did != self.issuer:
            raise MalformedInput("only the patient can sign their status list")
        now = now or dt.datetime.now(dt.UTC)
        claims: dict[str, object] = {
            "iss": self.issuer, "sub": self.id, "iat": int(now.timestamp()),
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "credentialSubject": {"id": f"{self.id}#list", "type": "BitstringStatusList",
                                  "statusPurpose": "revocation",
                                  "encodedList": "u" + b64(gzip.compress(self.bits, mtime=0))}}
        return sign(claims, patient.signing, STATUS_TYP, self.issuer)


def new_status_list(patient: str) -> StatusList:
    """An empty status list owned by `patient`."""
    return StatusList(id=f"urn:uuid:{uuid.uuid4()}", issuer=check_did(patient))


def read_status_list(token: str) -> StatusList:
    """Verify a status-list JWT against its issuer's did:key and decode the bitstring."""
    _, peek = unverified(token, STATUS_TYP)
    issuer = check_did(peek.get("iss"))
    claims = verify(token, ed25519_of_did_key(issuer), STATUS_TYP)
    try:
        encoded = cast(dict[str, str], claims["credentialSubject"])["encodedList"]
        if not encoded.startswith("u"):
            raise MalformedInput("status list: encodedList must be multibase base64url ('u')")
        inflater = zlib.decompressobj(wbits=31)
        bits = inflater.decompress(unb64(encoded[1:], "status list encodedList"), STATUS_BITS // 8 + 1)
        if len(bits) != STATUS_BITS // 8 or not inflater.eof:
            raise MalformedInput(f"status list: the bitstring must be exactly {STATUS_BITS} bits")
        return StatusList(str(claims["sub"]), issuer, bits, _time(claims["iat"]))
    except (KeyError, TypeError, zlib.error) as exc:
        raise MalformedInput(f"status list: missing or malformed claim ({exc})") from exc


def check_consent(token: str | Grant, status: StatusList, *, patient: str, grantee: str, purpose: Purpose,
                  needs: Scope, now: dt.datetime | None = None) -> Grant:
    """The grant, if it is `patient`'s, for `grantee` and `purpose`, valid now, unrevoked and wide enough.

    `token` is a grant JWT, or a Grant already returned by `read_grant`.
    """
    now = now or dt.datetime.now(dt.UTC)
    grant = token if isinstance(token, Grant) else read_grant(token)
    if grant.patient != patient:
        raise ConsentWrongPatient(f"consent {grant.id} is from {grant.patient}, not from {patient}")
    if grant.grantee != grantee or grant.purpose != purpose:
        raise ConsentWrongGrantee(f"consent {grant.id} is for {grant.grantee} ({grant.purpose}), "
                                  f"not for {grantee} ({purpose})")
    if not grant.not_before - LEEWAY <= now < grant.expires + LEEWAY:
        raise ConsentExpired(f"consent {grant.id} is valid from {grant.not_before:%Y-%m-%dT%H:%M:%SZ} "
                             f"to {grant.expires:%Y-%m-%dT%H:%M:%SZ}")
    if status.issuer != patient or status.id != grant.status_list:
        raise ConsentRefused(f"the status list {status.id} is not the one named by consent {grant.id}")
    if status.issued is None or now - status.issued > MAX_STATUS_AGE:
        raise ConsentRefused(f"the status list {status.id} is older than {MAX_STATUS_AGE.days} days")
    if status.revoked(grant.status_index):
        raise ConsentRevoked(f"consent {grant.id} was revoked")
    missing = grant.scope.missing(needs)
    if missing.families or missing.outputs:
        raise ConsentScope(f"consent {grant.id} does not cover {missing.to_json()}")
    return grant


def scope_of_summary(summary: Mapping[str, object]) -> Scope:
    """The families and outputs a RiskSummary (as JSON) discloses."""
    deviations = cast(list[dict[str, object]], summary.get("deviations") or [])
    coverage = cast(dict[str, object], summary.get("coverage") or {})
    families = {str(d.get("family")) for d in deviations} | set(coverage)
    outputs = {"risk"} | {name for name in ("deviations", "coverage", "surveys") if summary.get(name)}
    return Scope(frozenset(families), frozenset(outputs))


CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
FAMILY_SYSTEM = "urn:mindbridge:codesystem:biomarker-family"
OUTPUT_SYSTEM = "urn:mindbridge:codesystem:summary-output"
URI = "urn:ietf:rfc:3986"


def to_fhir_consent(grant: Grant, revoked: bool = False, now: dt.datetime | None = None) -> dict[str, object]:
    """The grant as a FHIR R4 Consent resource (JSON); inactive once revoked or expired."""
    now = now or dt.datetime.now(dt.UTC)
    active = not revoked and grant.not_before <= now < grant.expires
    patient = {"identifier": {"system": URI, "value": grant.patient}}
    classes = [{"system": FAMILY_SYSTEM, "code": f} for f in sorted(grant.scope.families)]
    classes += [{"system": OUTPUT_SYSTEM, "code": o} for o in sorted(grant.scope.outputs)]
    return {
        "resourceType": "Consent",
        "id": grant.id.removeprefix("urn:uuid:"),
        "identifier": [{"system": URI, "value": grant.id}],
        "status": "active" if active else "inactive",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": grant.purpose}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": patient,
        "dateTime": grant.issued.isoformat().replace("+00:00", "Z"),
        "performer": [patient],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": grant.not_before.isoformat().replace("+00:00", "Z"),
                       "end": grant.expires.isoformat().replace("+00:00", "Z")},
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                            "code": "IRCP", "display": "information recipient"}]},
                       "reference": {"identifier": {"system": URI, "value": grant.grantee}}}],
            "purpose": [{"system": ACT_REASON, "code": "TREAT" if grant.purpose == "treatment" else "HRESCH"}],
            "class": classes,
        },
    }


class ConsentBook:
    """A grantee's held grants and newest status lists, usable as the envelope opener's consent policy."""

    def __init__(self, grantee: str, purpose: Purpose = "treatment") -> None:
        self.grantee, self.purpose = check_did(grantee), purpose
        self.grants: dict[str, list[Grant]] = {}
        self.status: dict[str, StatusList] = {}

    def add_grant(self, token: str) -> Grant:
        """Keep a grant (its signature is verified; validity is checked at use)."""
        grant = read_grant(token)
        self.grants.setdefault(grant.patient, []).append(grant)
        return grant

    def update_status(self, token: str) -> StatusList:
        """Keep a status list unless an equally new or newer one of the same id is held."""
        new = read_status_list(token)
        held = self.status.get(new.id)
        if held is not None and held.issued is not None and new.issued is not None and new.issued <= held.issued:
            return held
        self.status[new.id] = new
        return new

    def __call__(self, patient: str, needs: Scope, now: dt.datetime) -> Grant:
        """The first held grant of `patient` that passes `check_consent`, else the last refusal."""
        refusal: ConsentRefused = ConsentRefused(f"no consent from {patient} is held by {self.grantee}")
        for grant in self.grants.get(patient, []):
            status = self.status.get(grant.status_list)
            if status is None:
                refusal = ConsentRefused(f"no status list is held for a consent of {patient}")
                continue
            try:
                return check_consent(grant, status, patient=patient, grantee=self.grantee, purpose=self.purpose,
                                     needs=needs, now=now)
            except ConsentRefused as exc:
                refusal = exc
        raise refusal
