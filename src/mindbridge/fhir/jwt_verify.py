"""Verifying the JWT an EHR sends with a CDS Hooks call (CDS Hooks 2.0.1, "Trusting CDS Clients").

Accepted: ES384 or RS384 only (so `none` and every HMAC algorithm, including HS256 keyed with a public key,
are refused before any key is touched), a `kid` among the keys registered for the token's `iss`, `aud`
equal to the exact service URL, `exp` in the future and at most five minutes after `iat`, `iat` not in the
future, and a `jti` never seen before. Keys come only from registration: a `jku` header is never fetched.
Seen `jti` values live behind `JtiStore`, a small protocol the hub backs with its database.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ("ES384", "RS384")
MAX_LIFETIME = 300  # seconds between iat and exp


class CdsJwtError(Exception):
    """The bearer token is not acceptable; the message says which check failed."""


class JtiStore(Protocol):
    """Remembers the jti of accepted tokens until they expire."""

    def claim(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record (issuer, jti) until `expires_at`; False when it was already recorded (a replay)."""
        ...


class MemoryJtiStore:
    """A JtiStore in memory, for one process; expired entries are dropped as new ones arrive."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Start empty, using `clock` to expire entries."""
        self._seen: dict[tuple[str, str], float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def claim(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record (issuer, jti) until `expires_at`; False when it was already recorded (a replay)."""
        with self._lock:
            now = self._clock()
            self._seen = {key: until for key, until in self._seen.items() if until >= now}
            if (issuer, jti) in self._seen:
                return False
            self._seen[(issuer, jti)] = expires_at
            return True


def _segment(token: str, index: int) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise CdsJwtError("not a compact JWS (expected three dot-separated parts)")
    try:
        value = json.loads(base64.urlsafe_b64decode(parts[index] + "=" * (-len(parts[index]) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CdsJwtError(f"JWT {'header' if index == 0 else 'payload'} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise CdsJwtError("JWT header or payload is not a JSON object")
    return value


class CdsJwtVerifier:
    """Checks CDS Hooks bearer tokens for one service URL against the EHRs' registered public keys."""

    def __init__(self, issuers: Mapping[str, KeySet], audience: str, jti_store: JtiStore, leeway: int = 30,
                 clock: Callable[[], float] = time.time) -> None:
        """Trust `issuers` (iss -> public KeySet) for tokens addressed to exactly `audience`."""
        self.issuers = dict(issuers)
        self.audience = audience
        self.jti_store = jti_store
        self.leeway = leeway
        self.clock = clock

    def verify(self, authorization: str) -> dict[str, Any]:
        """The verified claims of `authorization` ("Bearer <jwt>" or the bare JWT), or CdsJwtError."""
        token = authorization.removeprefix("Bearer ").strip()
        header = _segment(token, 0)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise CdsJwtError(f"alg {alg!r} refused: only {', '.join(ALGORITHMS)}")
        if header.get("typ", "JWT") != "JWT":
            raise CdsJwtError(f"typ {header.get('typ')!r} refused: expected JWT")
        issuer = _segment(token, 1).get("iss")
        keys = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if keys is None or not isinstance(issuer, str):
            raise CdsJwtError(f"iss {issuer!r} is not a registered CDS client")
        kid = header.get("kid")
        try:
            key = keys.get_by_kid(kid) if isinstance(kid, str) else None
        except (ValueError, JoseError):
            key = None
        if key is None:
            raise CdsJwtError(f"kid {kid!r} is not a key registered for {issuer}")
        try:
            claims = jwt.decode(token, key, algorithms=list(ALGORITHMS)).claims
        except JoseError as exc:
            raise CdsJwtError(f"signature check failed: {exc}") from exc
        self._check_claims(issuer, claims)
        return claims

    def _check_claims(self, issuer: str, claims: dict[str, Any]) -> None:
        now = self.clock()
        audience = claims.get("aud")
        if audience != self.audience and not (isinstance(audience, list) and self.audience in audience):
            raise CdsJwtError(f"aud {audience!r} is not this service ({self.audience})")
        exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise CdsJwtError("exp and iat are required numbers")
        if exp <= now - self.leeway:
            raise CdsJwtError(f"token expired at {exp} (now {now:.0f})")
        if iat > now + self.leeway:
            raise CdsJwtError(f"iat {iat} is in the future (now {now:.0f})")
        if exp - iat > MAX_LIFETIME:
            raise CdsJwtError(f"lifetime exp - iat = {exp - iat:.0f} s exceeds {MAX_LIFETIME} s")
        if not isinstance(jti, str) or not jti:
            raise CdsJwtError("jti is required")
        if not self.jti_store.claim(issuer, jti, float(exp) + self.leeway):
            raise CdsJwtError(f"jti {jti!r} was already used (replay)")
