"""Signed JSON Web Tokens with one algorithm only: Ed25519 (RFC 9864), through joserfc.

The header is inspected before any verification so that `none`, HMAC and RSA tokens are refused by
name (AlgorithmRefused) rather than by a generic failure; the issuer's key always comes from its DID,
never from the token.
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from .errors import AlgorithmRefused, BadSignature, MalformedInput, TooLarge
from .keys import unb64

ALG = "Ed25519"
MAX_TOKEN = 64_000


def sign(claims: dict[str, object], key: Ed25519PrivateKey, typ: str, kid: str) -> str:
    """A compact JWS of `claims` signed with Ed25519, typed `typ`, naming the signing key `kid`."""
    return jwt.encode({"alg": ALG, "typ": typ, "kid": kid}, claims, OKPKey.import_key(key), algorithms=[ALG])


def unverified(token: object, typ: str, limit: int = MAX_TOKEN) -> tuple[dict[str, object], dict[str, object]]:
    """Header and claims of a token before verification (only to find the issuer's DID)."""
    if not isinstance(token, str):
        raise MalformedInput(f"{typ}: token must be text")
    if len(token) > limit:
        raise TooLarge(f"{typ}: token of {len(token)} characters exceeds {limit}")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise MalformedInput(f"{typ}: a compact JWS has 3 dot-separated parts, got {len(parts)}")
    try:
        header = json.loads(unb64(parts[0], f"{typ} header"))
        claims = json.loads(unb64(parts[1], f"{typ} claims"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"{typ}: header or claims are not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedInput(f"{typ}: header and claims must be JSON objects")
    if header.get("alg") != ALG:
        raise AlgorithmRefused(f"{typ}: alg {header.get('alg')!r} refused; only {ALG} is accepted")
    if header.get("typ") != typ:
        raise MalformedInput(f"{typ}: header typ is {header.get('typ')!r}")
    return header, claims


def verify(token: str, key: Ed25519PublicKey, typ: str, limit: int = MAX_TOKEN) -> dict[str, object]:
    """The claims of a token whose Ed25519 signature verifies under `key`."""
    unverified(token, typ, limit)
    try:
        return jwt.decode(token.strip(), OKPKey.import_key(key), algorithms=[ALG]).claims
    except JoseError as exc:
        if exc.error == "bad_signature":
            raise BadSignature(f"{typ}: signature does not verify under the issuer's key") from exc
        raise MalformedInput(f"{typ}: {exc.error}") from exc
