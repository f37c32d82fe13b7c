"""Decentralised identifiers: did:key (Ed25519) for patients and devices, did:web documents for clinics.

did:key (W3C CCG did:key method): `did:key:z<base58btc(0xed01 ‖ 32-byte Ed25519 key)>`; its document is
derived from the identifier itself. did:web (W3C CCG did:web method): `did:web:example.org` maps to
`https://example.org/.well-known/did.json` and `did:web:example.org:clinics:north` to
`https://example.org/clinics/north/did.json` (a port is written `%3A`). Resolution never touches the
network: documents come from a local store (a dict of URL → JSON, or a folder laid out as host/path).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import AlgorithmRefused, InvalidDid
from .multibase import ED25519_PUB, X25519_PUB, decode_key, encode_key

DID_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
_DID_KEY = re.compile(r"^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}$")
_DID_WEB = re.compile(r"^did:web:[A-Za-z0-9.\-]+(%3A\d{1,5})?(:[A-Za-z0-9._~\-]+)*$")
MAX_DID_LENGTH = 512


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    """The 32 raw bytes of an OKP public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def did_key(key: Ed25519PublicKey) -> str:
    """The did:key of an Ed25519 public key."""
    return "did:key:" + encode_key(ED25519_PUB, raw_public(key))


def check_did(did: object) -> str:
    """Return `did` if it is a did:key or did:web we can resolve, else raise InvalidDid."""
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH:
        raise InvalidDid(f"not a DID string: {str(did)[:60]!r}")
    if not (_DID_KEY.match(did) or _DID_WEB.match(did)):
        raise InvalidDid(f"malformed or unsupported DID: {did[:60]!r} (did:key and did:web are supported)")
    return did


@lru_cache(maxsize=4096)
def ed25519_of_did_key(did: str) -> Ed25519PublicKey:
    """The Ed25519 public key a did:key names (refusing other key types); cached, keys never change."""
    check_did(did)
    if not did.startswith("did:key:"):
        raise InvalidDid(f"{did[:60]!r} is not a did:key")
    return Ed25519PublicKey.from_public_bytes(decode_key(did.removeprefix("did:key:"), ED25519_PUB))


def did_web_url(did: str) -> str:
    """The https URL of a did:web's document (did:web method specification, section 3.2)."""
    check_did(did)
    if not did.startswith("did:web:"):
        raise InvalidDid(f"{did[:60]!r} is not a did:web")
    host, *path = did.removeprefix("did:web:").split(":")
    host = unquote(host)
    return f"https://{host}/{'/'.join(path)}/did.json" if path else f"https://{host}/.well-known/did.json"


class VerificationMethod(BaseModel):
    """One key of a DID document (Multikey with a multibase public key)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    id: str
    type: str
    controller: str
    publicKeyMultibase: str | None = None


class DidDocument(BaseModel):
    """The parts of a DID document we use: keys for signing (assertionMethod) and for HPKE (keyAgreement)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    context: list[str] = Field(default_factory=lambda: list(DID_CONTEXT), alias="@context")
    id: str
    verificationMethod: list[VerificationMethod] = []
    assertionMethod: list[str] = []
    keyAgreement: list[str] = []

    def method(self, kid: str) -> VerificationMethod:
        """The verification method with id `kid` (relative `#x` ids are expanded)."""
        full = self.id + kid if kid.startswith("#") else kid
        for vm in self.verificationMethod:
            if (self.id + vm.id if vm.id.startswith("#") else vm.id) == full:
                return vm
        raise InvalidDid(f"{self.id}: no verification method {kid!r}")

    def signing_key(self) -> tuple[str, Ed25519PublicKey]:
        """The first assertionMethod key: its absolute id and Ed25519 public key."""
        if not self.assertionMethod:
            raise InvalidDid(f"{self.id}: document has no assertionMethod")
        vm = self.method(self.assertionMethod[0])
        return self._absolute(vm.id), Ed25519PublicKey.from_public_bytes(_multikey(vm, ED25519_PUB))

    def agreement_key(self) -> tuple[str, X25519PublicKey]:
        """The first keyAgreement key: its absolute id and X25519 public key."""
        if not self.keyAgreement:
            raise InvalidDid(f"{self.id}: document has no keyAgreement key")
        vm = self.method(self.keyAgreement[0])
        return self._absolute(vm.id), X25519PublicKey.from_public_bytes(_multikey(vm, X25519_PUB))

    def _absolute(self, kid: str) -> str:
        return self.id + kid if kid.startswith("#") else kid

    def to_json(self) -> dict[str, object]:
        """The document as JSON-ready data."""
        return self.model_dump(by_alias=True, exclude_none=True)


def _multikey(vm: VerificationMethod, codec: bytes) -> bytes:
    if vm.type != "Multikey" or vm.publicKeyMultibase is None:
        raise AlgorithmRefused(f"verification method {vm.id!r} is {vm.type!r}; a Multikey OKP key is expected")
    return decode_key(vm.publicKeyMultibase, codec)


def web_document(did: str, signing: Ed25519PublicKey, agreement: X25519PublicKey) -> DidDocument:
    """A did:web document with one Ed25519 assertion key (#sig) and one X25519 key-agreement key (#kex)."""
    did_web_url(did)
    methods = [
        VerificationMethod(id=f"{did}#sig", type="Multikey", controller=did,
                           publicKeyMultibase=encode_key(ED25519_PUB, raw_public(signing))),
        VerificationMethod(id=f"{did}#kex", type="Multikey", controller=did,
                           publicKeyMultibase=encode_key(X25519_PUB, raw_public(agreement))),
    ]
    return DidDocument(id=did, verificationMethod=methods, assertionMethod=[f"{did}#sig"],
                       keyAgreement=[f"{did}#kex"])


def key_document(did: str) -> DidDocument:
    """The document a did:key derives to (assertion key only: no key agreement is derived)."""
    key = ed25519_of_did_key(did)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    vm = VerificationMethod(id=kid, type="Multikey", controller=did,
                            publicKeyMultibase=encode_key(ED25519_PUB, raw_public(key)))
    return DidDocument(id=did, verificationMethod=[vm], assertionMethod=[kid])


def parse_document(data: object, did: str) -> DidDocument:
    """Validate JSON data as the DID document of `did`."""
    try:
        doc = DidDocument.model_validate(data)
    except ValidationError as exc:
        raise InvalidDid(f"DID document of {did}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    if doc.id != did:
        raise InvalidDid(f"DID document id {doc.id!r} does not match {did!r}")
    return doc


class Resolver:
    """Resolve did:key by derivation and did:web from local documents keyed by their https URL."""

    def __init__(self, documents: Mapping[str, object] | None = None) -> None:
        self.documents = dict(documents or {})

    @classmethod
    def from_directory(cls, root: Path) -> Resolver:
        """Documents laid out as `root/<host>/<path>/did.json` (or `root/<host>/.well-known/did.json`)."""
        docs: dict[str, object] = {}
        for path in sorted(root.rglob("did.json")):
            rel = path.relative_to(root).as_posix()
            try:
                docs[f"https://{rel}"] = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidDid(f"{path}: not a JSON DID document ({exc})") from exc
        return cls(docs)

    def add(self, doc: DidDocument) -> None:
        """Publish a did:web document in this store."""
        self.documents[did_web_url(doc.id)] = doc.to_json()

    def resolve(self, did: str) -> DidDocument:
        """The DID document of `did`."""
        check_did(did)
        if did.startswith("did:key:"):
            return key_document(did)
        url = did_web_url(did)
        if url not in self.documents:
            raise InvalidDid(f"{did}: no document at {url} in the local store")
        return parse_document(self.documents[url], did)

