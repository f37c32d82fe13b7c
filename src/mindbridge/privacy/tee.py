"""Trusted execution: an attestation-verifier interface and a verifier for AWS Nitro Enclaves.

A Nitro attestation document is a COSE_Sign1 (RFC 9052) in CBOR: [protected, unprotected, payload,
signature], protected header {1: -35} (ES384), signature r ‖ s over the CBOR Sig_structure
["Signature1", protected, b"", payload]. The payload map holds module_id, digest "SHA384", timestamp (ms),
pcrs {index: bytes}, certificate (leaf, DER), cabundle (root first, DER), public_key, user_data, nonce.
The verifier checks the chain up to a root pinned by SHA-256 fingerprint (the leaf has no Authority Key
Identifier, so end-entity extensions are not policed), the signature, freshness, the nonce, the
public-key binding and a PCR allow-list. The clinic seals to an enclave only through `attested_recipient`,
so devices encrypt to a key that a verified attestation vouches for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, cast

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from .envelope import Recipient
from .errors import AttestationError

# SHA-256 of the DER of "AWS Nitro Enclaves Root-G1" as published by AWS; the certificate itself is not on
# this machine, so it is pinned by fingerprint and must come as cabundle[0] of each document.
AWS_NITRO_ROOT_G1_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
ES384 = -35
MAX_DOCUMENT = 16 * 1024
REQUIRED = {"module_id": str, "digest": str, "timestamp": int, "pcrs": dict, "certificate": bytes,
            "cabundle": list}


@dataclass(frozen=True)
class Attestation:
    """The verified content of an attestation document."""

    module_id: str
    timestamp: dt.datetime
    pcrs: Mapping[int, bytes]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None


class AttestationVerifier(Protocol):
    """Verifies an enclave's attestation document against a policy."""

    def verify(self, document: bytes, *, nonce: bytes, public_key: bytes | None = None,
               now: dt.datetime | None = None) -> Attestation:
        """The attestation, if the document verifies, is fresh, and binds `nonce` (and `public_key`)."""
        ...


def _decode(document: bytes) -> tuple[bytes, bytes, bytes, dict[str, object]]:
    if len(document) > MAX_DOCUMENT:
        raise AttestationError(f"attestation document of {len(document)} bytes exceeds {MAX_DOCUMENT}")
    try:
        stream = io.BytesIO(document)
        cose = cbor2.load(stream)
        if stream.tell() != len(document):
            raise AttestationError("attestation document has trailing bytes after its CBOR item")
        if isinstance(cose, cbor2.CBORTag) and cose.tag == 18:
            cose = cose.value
        if not (isinstance(cose, list | tuple) and len(cose) == 4
                and all(isinstance(cose[i], bytes) for i in (0, 2, 3))):
            raise AttestationError("attestation document is not a CBOR COSE_Sign1 array")
        protected, payload = cbor2.loads(cose[0]), cbor2.loads(cose[2])
    except (cbor2.CBORError, ValueError, TypeError, EOFError) as exc:
        raise AttestationError(f"attestation document is not valid CBOR ({type(exc).__name__})") from exc
    if not isinstance(protected, dict) or protected.get(1) != ES384:
        raise AttestationError(f"COSE protected header alg must be ES384 (-35), got {protected!r:.60}")
    if not isinstance(payload, dict):
        raise AttestationError("attestation payload is not a CBOR map")
    for name, kind in REQUIRED.items():
        if not isinstance(payload.get(name), kind):
            raise AttestationError(f"attestation payload field {name!r} is missing or not {kind.__name__}")
    return cose[0], cose[2], cose[3], payload


def _optional_bytes(payload: Mapping[str, object], name: str) -> bytes | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, bytes):
        raise AttestationError(f"attestation payload field {name!r} must be bytes or null")
    return value


class NitroVerifier:
    """AWS Nitro Enclaves attestation: pinned root, ES384, PCR allow-list, nonce, key binding, freshness."""

    def __init__(self, pcrs: Mapping[int, set[bytes] | frozenset[bytes]],
                 roots: frozenset[str] = frozenset({AWS_NITRO_ROOT_G1_SHA256}),
                 max_age: dt.timedelta = dt.timedelta(minutes=5)) -> None:
        if not pcrs:
            raise AttestationError("a PCR allow-list is required (at least PCR0)")
        self.pcrs = {i: frozenset(v) for i, v in pcrs.items()}
        self.roots = frozenset(r.lower() for r in roots)
        self.max_age = max_age

    def verify(self, document: bytes, *, nonce: bytes, public_key: bytes | None = None,
               now: dt.datetime | None = None) -> Attestation:
        """The attestation, if every check passes; AttestationError naming the first that fails."""
        now = now or dt.datetime.now(dt.UTC)
        protected, body, signature, payload = _decode(document)
        if payload["digest"] != "SHA384":
            raise AttestationError(f"attestation digest must be SHA384, got {payload['digest']!r:.20}")
        stamp = dt.datetime.fromtimestamp(cast(int, payload["timestamp"]) / 1000, dt.UTC)
        leaf = self._chain(cast(bytes, payload["certificate"]), cast(list[object], payload["cabundle"]), stamp)
        key = leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
            raise AttestationError("the attestation certificate key is not P-384")
        if len(signature) != 96:
            raise AttestationError(f"ES384 signature must be 96 bytes, got {len(signature)}")
        der = encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
        try:
            key.verify(der, cbor2.dumps(["Signature1", protected, b"", body]), ec.ECDSA(hashes.SHA384()))
        except InvalidSignature as exc:
            raise AttestationError("COSE_Sign1 signature does not verify under the leaf certificate") from exc
        if not now - self.max_age <= stamp <= now + dt.timedelta(seconds=30):
            raise AttestationError(f"attestation timestamp {stamp:%Y-%m-%dT%H:%M:%SZ} is not fresh")
        got_nonce = _optional_bytes(payload, "nonce")
        if got_nonce is None or not hmac.compare_digest(got_nonce, nonce):
            raise AttestationError("attestation nonce does not match the challenge")
        got_key = _optional_bytes(payload, "public_key")
        if public_key is not None and (got_key is None or not hmac.compare_digest(got_key, public_key)):
            raise AttestationError("attestation public_key does not match the expected key")
        pcrs = cast(dict[object, object], payload["pcrs"])
        for index, allowed in self.pcrs.items():
            if pcrs.get(index) not in allowed:
                raise AttestationError(f"PCR{index} is not on the allow-list")
        return Attestation(str(payload["module_id"]), stamp,
                           {int(cast(int, i)): cast(bytes, v) for i, v in pcrs.items()},
                           got_key, _optional_bytes(payload, "user_data"), got_nonce)

    def _chain(self, leaf_der: bytes, bundle: list[object], at: dt.datetime) -> x509.Certificate:
        if not bundle or not all(isinstance(c, bytes) for c in bundle):
            raise AttestationError("attestation cabundle must be a non-empty list of DER certificates")
        ders = cast(list[bytes], bundle)
        if hashlib.sha256(ders[0]).hexdigest() not in self.roots:
            raise AttestationError("cabundle[0] is not the pinned root certificate")
        try:
            root, *intermediates = (x509.load_der_x509_certificate(d) for d in ders)
            leaf = x509.load_der_x509_certificate(leaf_der)
            verifier = (PolicyBuilder().store(Store([root])).time(at.replace(tzinfo=None))
                        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                            ee_policy=ExtensionPolicy.permit_all())
                        .build_client_verifier())
            verifier.verify(leaf, intermediates)
        except (ValueError, VerificationError) as exc:
            raise AttestationError(f"attestation certificate chain does not verify: {exc}") from exc
        return leaf


def attested_recipient(kid: str, document: bytes, verifier: AttestationVerifier, nonce: bytes,
                       now: dt.datetime | None = None) -> Recipient:
    """The enclave's X25519 key as an envelope recipient, only if its attestation verifies and binds it."""
    attestation = verifier.verify(document, nonce=nonce, now=now)
    if attestation.public_key is None or len(attestation.public_key) != 32:
        raise AttestationError("the attestation does not bind a 32-byte X25519 public key")
    return Recipient(kid, X25519PublicKey.from_public_bytes(attestation.public_key))
