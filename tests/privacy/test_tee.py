"""AWS Nitro attestation verification on documents signed by a test chain generated here (root →
intermediate → leaf, P-384/ES384, leaf without an Authority Key Identifier as in real Nitro documents).

No real public Nitro attestation document or the AWS root certificate exists on this machine or in an
installed package, so the pinned AWS root is only checked by fingerprint (a document chaining to any
other root, such as this test root, is refused by default).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from mindbridge.privacy.errors import AttestationError
from mindbridge.privacy.tee import NitroVerifier, attested_recipient

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
PCR0 = bytes(range(48))


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
          issuer_key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if ca:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA384())


@dataclass
class Chain:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.root.public_bytes(Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def chain() -> Chain:
    keys = [ec.generate_private_key(ec.SECP384R1()) for _ in range(3)]
    root = _cert("Test Nitro Root", keys[0], None, keys[0], ca=True)
    inter = _cert("Test Nitro Intermediate", keys[1], root, keys[0], ca=True)
    leaf = _cert("i-0123.enclave", keys[2], inter, keys[1], ca=False)
    return Chain(root, inter, leaf, keys[2])


def document(chain: Chain, *, nonce: bytes = b"n" * 16, public_key: bytes | None = None, when: dt.datetime = NOW,
             pcr0: bytes = PCR0, alg: int = -35, tamper: bool = False, bundle: list[bytes] | None = None) -> bytes:
    """A COSE_Sign1 attestation document signed by the chain's leaf."""
    payload = cbor2.dumps({
        "module_id": "i-0123-enc0123", "digest": "SHA384", "timestamp": int(when.timestamp() * 1000),
        "pcrs": {0: pcr0, 1: bytes(48), 2: bytes(48)}, "certificate": chain.leaf.public_bytes(Encoding.DER),
        "cabundle": bundle if bundle is not None else [c.public_bytes(Encoding.DER)
                                                       for c in (chain.root, chain.intermediate)],
        "public_key": public_key, "user_data": None, "nonce": nonce})
    protected = cbor2.dumps({1: alg})
    der = chain.leaf_key.sign(cbor2.dumps(["Signature1", protected, b"", payload]), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    if tamper:
        payload = payload.replace(b"i-0123-enc0123", b"i-9999-enc0123")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))


def verifier(chain: Chain) -> NitroVerifier:
    return NitroVerifier({0: {PCR0}}, roots=frozenset({chain.fingerprint}))


def test_a_valid_document_verifies(chain: Chain) -> None:
    key = os.urandom(32)
    att = verifier(chain).verify(document(chain, public_key=key), nonce=b"n" * 16, public_key=key, now=NOW)
    assert att.module_id == "i-0123-enc0123" and att.pcrs[0] == PCR0 and att.public_key == key
    assert att.timestamp == NOW


def test_devices_seal_only_to_an_attested_key(chain: Chain) -> None:
    enclave = X25519PrivateKey.generate()
    doc = document(chain, public_key=enclave.public_key().public_bytes_raw(), nonce=b"challenge-1")
    recipient = attested_recipient("did:web:clinic.example.org#enclave", doc, verifier(chain), b"challenge-1", NOW)
    assert recipient.key.public_bytes_raw() == enclave.public_key().public_bytes_raw()
    with pytest.raises(AttestationError, match="bind"):
        attested_recipient("k", document(chain, nonce=b"c2"), verifier(chain), b"c2", NOW)


@pytest.mark.parametrize(("case", "match"), [
    ("wrong nonce", "nonce"), ("wrong public key", "public_key"), ("PCR0 not allowed", "PCR0"),
    ("stale", "not fresh"), ("tampered payload", "signature"), ("alg ES256", "ES384"),
    ("AWS root pinned instead", "pinned root"), ("missing intermediate", "chain"), ("garbage", "CBOR|COSE"),
    ("truncated", "CBOR"), ("not COSE", "COSE_Sign1"),
])
def test_bad_documents_are_refused(chain: Chain, case: str, match: str) -> None:
    key = os.urandom(32)
    good: dict[str, Any] = {"nonce": b"n" * 16, "public_key": key}
    check = verifier(chain)
    doc = {
        "wrong nonce": lambda: document(chain, nonce=b"m" * 16, public_key=key),
        "wrong public key": lambda: document(chain, nonce=b"n" * 16, public_key=os.urandom(32)),
        "PCR0 not allowed": lambda: document(chain, pcr0=bytes(48), **good),
        "stale": lambda: document(chain, when=NOW - dt.timedelta(minutes=6), **good),
        "tampered payload": lambda: document(chain, tamper=True, **good),
        "alg ES256": lambda: document(chain, alg=-7, **good),
        "AWS root pinned instead": lambda: document(chain, **good),
        "missing intermediate": lambda: document(chain, bundle=[chain.root.public_bytes(Encoding.DER)], **good),
        "garbage": lambda: os.urandom(200),
        "truncated": lambda: document(chain, **good)[:300],
        "not COSE": lambda: cbor2.dumps({"a": 1}),
    }[case]()
    if case == "AWS root pinned instead":
        check = NitroVerifier({0: {PCR0}})
    with pytest.raises(AttestationError, match=match):
        check.verify(doc, nonce=b"n" * 16, public_key=key, now=NOW)


def test_a_pcr_policy_is_required() -> None:
    with pytest.raises(AttestationError):
        NitroVerifier({})
