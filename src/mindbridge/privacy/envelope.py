"""Sealed, signed envelopes (format `mindbridge-envelope/1`, see docs/privacy.md).

Sealing: the payload is canonicalised (RFC 8785), signed with the device's Ed25519 key over the
domain tag, the canonical header and the payload, and the signature ‖ payload is sealed with HPKE
(RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) to the clinic's X25519 key,
with the domain tag and canonical header as HPKE `info`, so altering any header field makes opening fail.

Opening checks, in this order, stopping at the first failure: size, syntax and version, header
schema and algorithm, DIDs, recipient, time window, replay (look only), HPKE opening, signature,
the device's enrolment at the creation time, the payload (raw-series guard and schema), consent;
only then is the envelope recorded in the replay guard. A refused envelope changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Literal

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from .canonical import canonical
from .consent import Scope, scope_of_summary
from .did import DidDocument, check_did, ed25519_of_did_key
from .errors import (
    AlgorithmRefused,
    BadSignature,
    DecryptionFailed,
    MalformedInput,
    OutOfWindow,
    PayloadRefused,
    TooLarge,
    WrongRecipient,
)
from .keys import Identity, b64, unb64
from .payload import Model, refuse_raw_series, validate_payload
from .replay import ReplayGuard
from .rotation import Roster

FORMAT = "mindbridge-envelope/1"
ALG = "HPKE-Base-X25519-SHA256-AES256GCM+Ed25519"
DOMAIN = FORMAT.encode("ascii") + b"\0"
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SIGNATURE_BYTES = 64
MAX_ENVELOPE = 64 * 1024
MAX_AGE = dt.timedelta(days=7)
MAX_SKEW = dt.timedelta(minutes=5)


class Header(BaseModel):
    """The clear, authenticated part of an envelope."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: StrictStr = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    alg: StrictStr
    sender: StrictStr = Field(max_length=128)
    patient: StrictStr = Field(max_length=128)
    recipient: StrictStr = Field(max_length=512)
    created: StrictInt = Field(ge=0, lt=2**40)
    seq: StrictInt = Field(ge=0, lt=2**53)
    cty: Literal["risk-summary/1"] = "risk-summary/1"

    @property
    def created_at(self) -> dt.datetime:
        """The creation time as an aware datetime."""
        return dt.datetime.fromtimestamp(self.created, dt.UTC)


@dataclass(frozen=True)
class Recipient:
    """Where an envelope is sealed to: a key-agreement key id and its X25519 public key."""

    kid: str
    key: X25519PublicKey

    @classmethod
    def of(cls, doc: DidDocument) -> Recipient:
        """The recipient named by a DID document's first keyAgreement key."""
        kid, key = doc.agreement_key()
        return cls(kid, key)


def _signed_bytes(header_bytes: bytes, payload_bytes: bytes) -> bytes:
    return DOMAIN + len(header_bytes).to_bytes(4, "big") + header_bytes + payload_bytes


def seal(payload: BaseModel | Mapping[str, object], device: Identity, recipient: Recipient, seq: int,
         now: dt.datetime | None = None) -> bytes:
    """Sign and seal a payload from `device` to `recipient` as envelope bytes (JSON)."""
    if device.patient is None:
        raise MalformedInput("the device identity does not name its patient")
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
    refuse_raw_series(data)
    now = now or dt.datetime.now(dt.UTC)
    header = Header(id=str(uuid.uuid4()), alg=ALG, sender=device.did, patient=device.patient,
                    recipient=recipient.kid, created=int(now.timestamp()), seq=seq)
    fields = header.model_dump()
    header_bytes, payload_bytes = canonical(fields), canonical(data)
    signature = device.signing.sign(_signed_bytes(header_bytes, payload_bytes))
    sealed = SUITE.encrypt(signature + payload_bytes, recipient.key, info=DOMAIN + header_bytes)
    envelope = {"v": FORMAT, "hdr": fields, "ct": b64(sealed)}
    if len(out := canonical(envelope)) > MAX_ENVELOPE:
        raise TooLarge(f"envelope of {len(out)} bytes exceeds {MAX_ENVELOPE}")
    return out


def parse_header(data: bytes, max_size: int = MAX_ENVELOPE) -> tuple[Header, bytes]:
    """The header and sealed bytes of an envelope, checked for size, syntax, version and algorithm."""
    if len(data) > max_size:
        raise TooLarge(f"envelope of {len(data)} bytes exceeds {max_size}")
    try:
        envelope = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedInput(f"envelope is not JSON ({exc})") from exc
    if not isinstance(envelope, dict) or set(envelope) != {"v", "hdr", "ct"}:
        raise MalformedInput("envelope must be an object with exactly the members v, hdr, ct")
    if envelope["v"] != FORMAT:
        raise MalformedInput(f"unsupported envelope version {str(envelope['v'])[:40]!r} (expected {FORMAT})")
    try:
        header = Header.model_validate(envelope["hdr"])
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MalformedInput(f"envelope header field {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    if header.alg != ALG:
        raise AlgorithmRefused(f"envelope alg {header.alg[:60]!r} refused; only {ALG} is accepted")
    check_did(header.patient)
    ed25519_of_did_key(header.sender)
    return header, unb64(envelope["ct"], "envelope field ct")


ConsentPolicy = Callable[[str, Scope, dt.datetime], object]


@dataclass(frozen=True)
class Opened(Generic[Model]):
    """An accepted envelope: its header and validated payload."""

    header: Header
    payload: Model


@dataclass
class Opener(Generic[Model]):
    """The clinic side: opens envelopes addressed to one key-agreement key, refusing anything doubtful.

    `consent(patient, scope, now)` must raise ConsentRefused unless a valid grant covers `scope`.
    """

    kid: str
    key: X25519PrivateKey
    roster: Roster
    guard: ReplayGuard
    schema: type[Model]
    consent: ConsentPolicy
    max_size: int = MAX_ENVELOPE
    max_age: dt.timedelta = MAX_AGE
    max_skew: dt.timedelta = MAX_SKEW

    @classmethod
    def for_clinic(cls, clinic: Identity, roster: Roster, guard: ReplayGuard, schema: type[Model],
                   consent: ConsentPolicy) -> Opener[Model]:
        """An opener for a clinic identity's key-agreement key (`<did>#kex`)."""
        if clinic.agreement is None:
            raise MalformedInput(f"{clinic.did} has no key-agreement key to open envelopes with")
        return cls(f"{clinic.did}#kex", clinic.agreement, roster, guard, schema, consent)

    def open(self, data: bytes, now: dt.datetime | None = None) -> Opened[Model]:
        """Check everything, then record the envelope and return its payload."""
        now = now or dt.datetime.now(dt.UTC)
        header, sealed = parse_header(data, self.max_size)
        if header.recipient != self.kid:
            raise WrongRecipient(f"envelope {header.id} is for {header.recipient[:80]}, not {self.kid}")
        if not now - self.max_age <= header.created_at <= now + self.max_skew:
            raise OutOfWindow(f"envelope {header.id} was created at {header.created_at:%Y-%m-%dT%H:%M:%SZ}, "
                              f"outside [now − {self.max_age}, now + {self.max_skew}]")
        self.guard.check(header.sender, header.seq, header.id)
        header_bytes = canonical(header.model_dump())
        try:
            plain = SUITE.decrypt(sealed, self.key, info=DOMAIN + header_bytes)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed(f"envelope {header.id}: HPKE opening failed (tampered or not for this key)") from exc
        signature, payload_bytes = plain[:SIGNATURE_BYTES], plain[SIGNATURE_BYTES:]
        try:
            ed25519_of_did_key(header.sender).verify(signature, _signed_bytes(header_bytes, payload_bytes))
        except InvalidSignature as exc:
            raise BadSignature(f"envelope {header.id}: signature does not verify under {header.sender}") from exc
        self.roster.authorise(header.patient, header.sender, header.created_at)
        try:
            data_obj = json.loads(payload_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadRefused(f"envelope {header.id}: payload is not JSON") from exc
        payload = validate_payload(data_obj, self.schema)
        if data_obj.get("subject") != header.patient:
            raise PayloadRefused(f"envelope {header.id}: payload subject is not the sending patient")
        self.consent(header.patient, scope_of_summary(data_obj), now)
        self.guard.record(header.sender, header.seq, header.id)
        return Opened(header, payload)
