"""The attack suite: every case is refused with a specific error, and nothing refused is half-applied.

Each case gets a fresh world (with a replay guard in memory and in SQLite), may prepare legitimate
traffic first, then makes one attempt; the test checks the exception class and that the replay guard
(and the consent book's grants) are exactly as they were before the attempt.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from copy import deepcopy

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from mindbridge.privacy.consent import Scope, check_consent
from mindbridge.privacy.did import DidDocument, check_did, ed25519_of_did_key
from mindbridge.privacy.envelope import Recipient
from mindbridge.privacy.errors import (
    AlgorithmRefused,
    BadSignature,
    ConsentExpired,
    ConsentRefused,
    ConsentRevoked,
    ConsentScope,
    ConsentWrongGrantee,
    ConsentWrongPatient,
    DecryptionFailed,
    InvalidDid,
    MalformedInput,
    OutOfWindow,
    PayloadRefused,
    PrivacyError,
    ReplayDetected,
    RetiredKey,
    TooLarge,
    UnknownSigner,
    WrongRecipient,
)
from mindbridge.privacy.keys import Identity, unb64
from mindbridge.privacy.multibase import encode_key
from mindbridge.privacy.rotation import DeviceList
from mindbridge.privacy.tokens import unverified

from .conftest import CLINIC_DID, NOW, World, b64, edit, forge, header_for, summary_for

Attack = Callable[[World], object]
ATTACKS: dict[str, tuple[type[PrivacyError], Attack]] = {}


def attack(name: str, error: type[PrivacyError]) -> Callable[[Attack], Attack]:
    """Register an attack expected to raise `error`."""
    def add(fn: Attack) -> Attack:
        ATTACKS[name] = (error, fn)
        return fn
    return add


def _open(w: World, envelope: bytes) -> object:
    return w.opener.open(envelope, NOW)


def _flip_ct(envelope: bytes, index: int) -> bytes:
    def change(d: dict[str, object]) -> None:
        raw = bytearray(unb64(d["ct"], "ct"))
        raw[index] ^= 0x01
        d["ct"] = b64(bytes(raw))
    return edit(envelope, change)


def _set_header(envelope: bytes, **changes: object) -> bytes:
    return edit(envelope, lambda d: d["hdr"].update(changes))  # type: ignore[attr-defined]


def _payload(w: World, **changes: object) -> dict[str, object]:
    data = summary_for(w.patient.did).model_dump(mode="json")
    data.update(changes)
    return data


# --- tampering -------------------------------------------------------------------------------------------
attack("tampered ciphertext (middle)", DecryptionFailed)(lambda w: _open(w, _flip_ct(w.seal(), 100)))
attack("tampered ciphertext (tag)", DecryptionFailed)(lambda w: _open(w, _flip_ct(w.seal(), -1)))
attack("tampered HPKE encapsulated key", DecryptionFailed)(lambda w: _open(w, _flip_ct(w.seal(), 0)))
attack("truncated ciphertext", DecryptionFailed)(
    lambda w: _open(w, edit(w.seal(), lambda d: d.update(ct=str(d["ct"])[:-20]))))
attack("tampered header: sequence", DecryptionFailed)(lambda w: _open(w, _set_header(w.seal(), seq=99)))
attack("tampered header: creation time", DecryptionFailed)(
    lambda w: _open(w, _set_header(w.seal(), created=int(NOW.timestamp()) - 60)))
attack("tampered header: envelope id", DecryptionFailed)(
    lambda w: _open(w, _set_header(w.seal(), id=header_for(w)["id"])))
attack("tampered header: patient", DecryptionFailed)(
    lambda w: _open(w, _set_header(w.seal(), patient=Identity.generate("patient").did)))
attack("tampered header: sender swapped for another device", DecryptionFailed)(
    lambda w: _open(w, _set_header(w.seal(), sender=Identity.generate("device").did)))


# --- recipients and signers ----------------------------------------------------------------------------
def _other_clinic(w: World) -> Recipient:
    other = Identity.generate("clinic", web_did="did:web:elsewhere.example.com")
    assert other.agreement is not None
    return Recipient(f"{other.did}#kex", other.agreement.public_key())


attack("wrong recipient", WrongRecipient)(lambda w: _open(w, w.seal(recipient=_other_clinic(w))))
attack("our key id, someone else's key", DecryptionFailed)(
    lambda w: _open(w, w.seal(recipient=Recipient(w.recipient.kid, _other_clinic(w).key))))


@attack("device never enrolled", UnknownSigner)
def _unenrolled(w: World) -> object:
    stranger = Identity.generate("device", patient=w.patient.did)
    return w.seal(device=stranger)


@attack("another patient's device claiming this patient", UnknownSigner)
def _foreign_device(w: World) -> object:
    other = Identity.generate("patient")
    theirs = Identity.generate("device", patient=other.did)
    w.roster.update(DeviceList(other.did, 0).enrol(theirs.did, NOW - dt.timedelta(days=2)).sign(other))
    header = header_for(w, sender=theirs.did)
    return forge(header, _payload(w), theirs.signing, w.recipient.key)


attack("signature by a key other than the sender's", BadSignature)(
    lambda w: _open(w, forge(header_for(w), _payload(w), Ed25519PrivateKey.generate(), w.recipient.key)))


@attack("retired device key used after retirement", RetiredKey)
def _retired(w: World) -> object:
    w.roster.update(w.devices.retire(w.device.did, NOW - dt.timedelta(days=1)).sign(w.patient))
    return w.seal()


@attack("envelope dated before the device was enrolled", UnknownSigner)
def _before_enrolment(w: World) -> object:
    newer = Identity.generate("device", patient=w.patient.did)
    w.roster.update(w.devices.enrol(newer.did, NOW - dt.timedelta(days=1)).sign(w.patient))
    return w.seal(device=newer, now=NOW - dt.timedelta(days=2))


# --- replay and time -----------------------------------------------------------------------------------
@attack("replayed envelope", ReplayDetected)
def _replay(w: World) -> object:
    envelope = w.seal()
    _open(w, envelope)
    return envelope


@attack("older sequence number", ReplayDetected)
def _older_seq(w: World) -> object:
    _open(w, w.seal(seq=10))
    return w.seal(seq=9)


@attack("same sequence number, new id", ReplayDetected)
def _same_seq(w: World) -> object:
    _open(w, w.seal(seq=10))
    return w.seal(seq=10)


attack("created more than 7 days ago", OutOfWindow)(lambda w: _open(w, w.seal(now=NOW - dt.timedelta(days=8))))
attack("created in the future", OutOfWindow)(lambda w: _open(w, w.seal(now=NOW + dt.timedelta(hours=1))))


# --- consent -------------------------------------------------------------------------------------------
@attack("revoked consent", ConsentRevoked)
def _revoked(w: World) -> object:
    w.book.update_status(w.status.revoke(7).sign(w.patient, NOW))
    return w.seal()


def _only_grant(w: World, token: str) -> None:
    w.book.grants = {}
    w.book.add_grant(token)


@attack("expired consent", ConsentExpired)
def _expired(w: World) -> object:
    _only_grant(w, w.new_grant(issued=NOW - dt.timedelta(days=30), expires=NOW - dt.timedelta(days=1)))
    return w.seal()


@attack("consent not yet valid", ConsentExpired)
def _future(w: World) -> object:
    _only_grant(w, w.new_grant(issued=NOW + dt.timedelta(days=1)))
    return w.seal()


@attack("only another patient's consent is held", ConsentRefused)
def _other_patients_book(w: World) -> object:
    w.book.grants = {}
    w.book.add_grant(w.new_grant(patient=Identity.generate("patient")))
    return w.seal()


attack("consent of another patient presented for this one", ConsentWrongPatient)(
    lambda w: check_consent(w.new_grant(patient=Identity.generate("patient")), w.status, patient=w.patient.did,
                            grantee=CLINIC_DID, purpose="treatment", needs=Scope(), now=NOW))


@attack("consent for another clinic", ConsentWrongGrantee)
def _other_grantee(w: World) -> object:
    _only_grant(w, w.new_grant(grantee="did:web:other-clinic.example.org"))
    return w.seal()


@attack("research consent used for treatment", ConsentWrongGrantee)
def _research(w: World) -> object:
    _only_grant(w, w.new_grant(purpose="research"))
    return w.seal()


@attack("scope lacks a biomarker family", ConsentScope)
def _narrow_family(w: World) -> object:
    _only_grant(w, w.new_grant(families=("activity",)))
    return w.seal()


@attack("scope lacks an output", ConsentScope)
def _narrow_output(w: World) -> object:
    _only_grant(w, w.new_grant(outputs=("risk", "coverage")))
    return w.seal()


@attack("status list of a stranger claiming the patient", BadSignature)
def _forged_status(w: World) -> object:
    token = w.status.revoke(3).sign(w.patient, NOW)
    head, claims, _ = token.split(".")
    stranger_sig = b64(Ed25519PrivateKey.generate().sign(f"{head}.{claims}".encode()))
    return w.book.update_status(f"{head}.{claims}.{stranger_sig}")


# --- size and payload ----------------------------------------------------------------------------------
attack("oversized envelope", TooLarge)(
    lambda w: _open(w, edit(w.seal(), lambda d: d.update(pad="x" * 70_000))))
attack("oversized payload at sealing", TooLarge)(
    lambda w: w.seal({f"k{i}": "y" * 1_900 for i in range(40)}))
attack("raw series in the payload", PayloadRefused)(
    lambda w: _open(w, forge(header_for(w), _payload(w, samples=list(range(500))), w.device.signing,
                             w.recipient.key)))
attack("unknown payload field", PayloadRefused)(
    lambda w: _open(w, forge(header_for(w), _payload(w, note="hello"), w.device.signing, w.recipient.key)))
attack("payload about another subject", PayloadRefused)(
    lambda w: _open(w, forge(header_for(w), _payload(w, subject=Identity.generate("patient").did),
                             w.device.signing, w.recipient.key)))


# --- DIDs and algorithms -------------------------------------------------------------------------------
attack("malformed sender did:key", InvalidDid)(
    lambda w: _open(w, _set_header(w.seal(), sender="did:key:z0OIl")))
attack("unsupported DID method", InvalidDid)(lambda w: _open(w, _set_header(w.seal(), sender="did:example:123")))
attack("malformed did:web", InvalidDid)(lambda w: check_did("did:web:exa mple.org"))
attack("RSA key where Ed25519 is expected (did:key)", AlgorithmRefused)(
    lambda w: ed25519_of_did_key("did:key:" + encode_key(b"\x85\x24", os.urandom(32))))


@attack("RSA key in the clinic's DID document", AlgorithmRefused)
def _rsa_document(w: World) -> object:
    doc = {"id": CLINIC_DID, "verificationMethod": [
        {"id": f"{CLINIC_DID}#kex", "type": "JsonWebKey2020", "controller": CLINIC_DID,
         "publicKeyJwk": RSAKey.generate_key(2048).as_dict(private=False)}], "keyAgreement": [f"{CLINIC_DID}#kex"]}
    return Recipient.of(DidDocument.model_validate(doc))


attack("envelope alg 'none'", AlgorithmRefused)(lambda w: _open(w, _set_header(w.seal(), alg="none")))


def _claims_of(token: str) -> dict[str, object]:
    return unverified(token, "consent+jwt")[1]


@attack("consent token with alg 'none'", AlgorithmRefused)
def _alg_none(w: World) -> object:
    head = b64(json.dumps({"alg": "none", "typ": "consent+jwt"}).encode())
    return w.book.add_grant(f"{head}.{b64(json.dumps(_claims_of(w.grant)).encode())}.")


@attack("consent token signed HS256 with the patient's public key", AlgorithmRefused)
def _hs256(w: World) -> object:
    secret = OctKey.import_key(w.patient.signing.public_key().public_bytes_raw())
    token = jwt.encode({"alg": "HS256", "typ": "consent+jwt"}, _claims_of(w.grant), secret, algorithms=["HS256"])
    return w.book.add_grant(token)


@attack("consent token signed RS256 by an RSA key", AlgorithmRefused)
def _rs256(w: World) -> object:
    key = RSAKey.import_key(rsa.generate_private_key(65537, 2048))
    token = jwt.encode({"alg": "RS256", "typ": "consent+jwt"}, _claims_of(w.grant), key, algorithms=["RS256"])
    return w.book.add_grant(token)


@attack("consent token re-signed by a stranger", BadSignature)
def _stranger_grant(w: World) -> object:
    head, claims, _ = w.grant.split(".")
    return w.book.add_grant(f"{head}.{claims}.{b64(Ed25519PrivateKey.generate().sign(f'{head}.{claims}'.encode()))}")


@attack("device list forged by a stranger", BadSignature)
def _forged_devices(w: World) -> object:
    stranger = Identity.generate("device", patient=w.patient.did)
    token = w.devices.enrol(stranger.did, NOW).sign(w.patient)
    head, claims, _ = token.split(".")
    return w.roster.update(f"{head}.{claims}.{b64(Ed25519PrivateKey.generate().sign(f'{head}.{claims}'.encode()))}")


attack("device list rolled back to an older version", MalformedInput)(
    lambda w: w.roster.update(DeviceList(w.patient.did, 0).sign(w.patient)))


# --- garbage and truncation ----------------------------------------------------------------------------
attack("random bytes", MalformedInput)(lambda w: _open(w, os.urandom(300)))
attack("empty input", MalformedInput)(lambda w: _open(w, b""))
attack("truncated envelope", MalformedInput)(lambda w: _open(w, (e := w.seal())[: len(e) // 2]))
attack("JSON without a header", MalformedInput)(lambda w: _open(w, b'{"v": "mindbridge-envelope/1", "ct": ""}'))
attack("unknown envelope version", MalformedInput)(
    lambda w: _open(w, edit(w.seal(), lambda d: d.update(v="mindbridge-envelope/2"))))
attack("ciphertext not base64url", MalformedInput)(lambda w: _open(w, edit(w.seal(), lambda d: d.update(ct="@@@"))))
attack("sequence number as text", MalformedInput)(lambda w: _open(w, _set_header(w.seal(), seq="7")))
attack("negative sequence number", MalformedInput)(lambda w: _open(w, _set_header(w.seal(), seq=-1)))
attack("extra header field", MalformedInput)(lambda w: _open(w, _set_header(w.seal(), admin=True)))
attack("truncated consent token", MalformedInput)(lambda w: w.book.add_grant(w.grant[: len(w.grant) // 2]))
attack("consent token of garbage", MalformedInput)(lambda w: w.book.add_grant("a.b.c"))


def test_there_are_at_least_forty_attacks() -> None:
    assert len(ATTACKS) >= 40


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_refused_and_changes_nothing(name: str, world: World) -> None:
    error, run = ATTACKS[name]
    before_guard = world.guard.state()
    before_grants = deepcopy(world.book.grants)
    with pytest.raises(error) as caught:
        result = run(world)
        if isinstance(result, bytes):  # a prepared envelope: its opening is the attempt
            before_guard = world.guard.state()
            before_grants = deepcopy(world.book.grants)
            world.opener.open(result, NOW)
    assert type(caught.value) is error, f"{name}: refused as {type(caught.value).__name__}, expected {error.__name__}"
    assert caught.value.code == error.code
    assert world.guard.state() == before_guard
    assert world.book.grants == before_grants
