"""Identities and their private keys, and the encrypted keystore that holds them at rest.

An `Identity` is a role (patient, device, clinic), an Ed25519 signing key, an optional X25519 key for
receiving HPKE-sealed envelopes, and a DID (did:key derived from the signing key, or a given did:web).
Its repr shows the DID only. A keystore file is JSON: the public metadata in clear, the private keys
encrypted with AES-256-GCM under a key derived from a passphrase with scrypt (RFC 7914); the clear
metadata is the AES-GCM associated data, so it cannot be altered without the file failing to open.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from .canonical import canonical
from .did import check_did, did_key, did_web_url
from .errors import KeystoreError, MalformedInput

Role = Literal["patient", "device", "clinic", "model-team"]
ROLES: tuple[Role, ...] = get_args(Role)
ENV_PASSPHRASE = "MINDBRIDGE_PASSPHRASE"
KEYSTORE_FORMAT = "mindbridge-keystore/1"
SCRYPT_N = 2**15
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64(data: bytes) -> str:
    """Unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: object, what: str) -> bytes:
    """Decode unpadded base64url, naming `what` when it is not."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise MalformedInput(f"{what}: expected unpadded base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise MalformedInput(f"{what}: not base64url") from exc


@dataclass(frozen=True, repr=False, eq=False)
class Identity:
    """A participant's DID with its private keys (repr and str never show key material)."""

    role: Role
    signing: Ed25519PrivateKey
    agreement: X25519PrivateKey | None = None
    web_did: str | None = None
    patient: str | None = None

    @classmethod
    def generate(cls, role: Role, web_did: str | None = None, patient: str | None = None) -> Identity:
        """A new identity; clinics get an X25519 key and a did:web, devices name their patient."""
        if role == "clinic" and web_did is None:
            raise MalformedInput("a clinic identity needs a did:web")
        if web_did is not None:
            did_web_url(web_did)
        if patient is not None:
            check_did(patient)
        agreement = X25519PrivateKey.generate() if role == "clinic" else None
        return cls(role, Ed25519PrivateKey.generate(), agreement, web_did, patient)

    @cached_property
    def did(self) -> str:
        """The identity's DID."""
        return self.web_did or did_key(self.signing.public_key())

    def __repr__(self) -> str:
        return f"Identity(role={self.role!r}, did={self.did!r})"

    __str__ = __repr__


def _raw(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _kdf(passphrase: str, salt: bytes, n: int) -> bytes:
    if not passphrase:
        raise KeystoreError("the passphrase is empty")
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode("utf-8"))


def lock(identity: Identity, passphrase: str, n: int = SCRYPT_N) -> dict[str, object]:
    """The keystore JSON of an identity, its private keys encrypted under the passphrase."""
    salt, nonce = os.urandom(16), os.urandom(12)
    meta: dict[str, object] = {"format": KEYSTORE_FORMAT, "role": identity.role, "did": identity.did,
                               "patient": identity.patient,
                               "kdf": {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": b64(salt)},
                               "cipher": "A256GCM", "nonce": b64(nonce)}
    secret = {"ed25519": b64(_raw(identity.signing)),
              "x25519": b64(_raw(identity.agreement)) if identity.agreement else None}
    sealed = AESGCM(_kdf(passphrase, salt, n)).encrypt(nonce, canonical(secret), canonical(meta))
    return {**meta, "ciphertext": b64(sealed)}


def unlock(store: dict[str, object], passphrase: str, where: str = "keystore") -> Identity:
    """The identity in keystore JSON; KeystoreError on a wrong passphrase or an altered file."""
    if not isinstance(store, dict) or store.get("format") != KEYSTORE_FORMAT:
        raise KeystoreError(f"{where}: not a {KEYSTORE_FORMAT} file")
    meta = {k: v for k, v in store.items() if k != "ciphertext"}
    kdf = meta.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt" or not isinstance(kdf.get("n"), int):
        raise KeystoreError(f"{where}: field 'kdf' must describe scrypt parameters")
    try:
        key = _kdf(passphrase, unb64(kdf.get("salt"), f"{where}: kdf.salt"), kdf["n"])
        plain = AESGCM(key).decrypt(unb64(meta.get("nonce"), f"{where}: nonce"),
                                    unb64(store.get("ciphertext"), f"{where}: ciphertext"), canonical(meta))
    except InvalidTag as exc:
        raise KeystoreError(f"{where}: wrong passphrase, or the file was altered") from exc
    except (MalformedInput, ValueError) as exc:
        raise KeystoreError(f"{where}: damaged ({type(exc).__name__})") from exc
    secret = json.loads(plain)
    signing = Ed25519PrivateKey.from_private_bytes(unb64(secret["ed25519"], "ed25519"))
    agreement = X25519PrivateKey.from_private_bytes(unb64(secret["x25519"], "x25519")) if secret["x25519"] else None
    role, did = meta.get("role"), meta.get("did")
    if role not in ROLES:
        raise KeystoreError(f"{where}: unknown role {role!r}")
    web = did if isinstance(did, str) and did.startswith("did:web:") else None
    patient = meta.get("patient")
    identity = Identity(role, signing, agreement, web, patient if isinstance(patient, str) else None)
    if identity.did != did:
        raise KeystoreError(f"{where}: the keys do not match the DID recorded in the file")
    return identity


def save(identity: Identity, path: Path, passphrase: str, n: int = SCRYPT_N) -> None:
    """Write an encrypted keystore file (mode 0600)."""
    path.write_text(json.dumps(lock(identity, passphrase, n), indent=1) + "\n", encoding="utf-8")
    path.chmod(0o600)


def load(path: Path, passphrase: str) -> Identity:
    """Read and unlock a keystore file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"{path}: not a JSON keystore") from exc
    return unlock(data, passphrase, str(path))


def passphrase_from(path: Path | None) -> str:
    """The first line of a passphrase file, else `$MINDBRIDGE_PASSPHRASE`, else '' (the caller may prompt)."""
    if path is not None:
        lines = path.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    return os.environ.get(ENV_PASSPHRASE, "")


def public_info(path: Path) -> dict[str, object]:
    """The clear metadata of a keystore file (no passphrase needed)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"{path}: not a JSON keystore") from exc
    if not isinstance(data, dict) or data.get("format") != KEYSTORE_FORMAT:
        raise KeystoreError(f"{path}: not a {KEYSTORE_FORMAT} file")
    return {k: data[k] for k in ("role", "did", "patient") if k in data}

