"""The EHR's CDS Hooks JWT: accepted when right, and an attack set that must each be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from mindbridge.fhir.jwt_verify import CdsJwtError, CdsJwtVerifier, MemoryJtiStore

SERVICE = "https://hub.clinic.example/cds-services/mindbridge-directives"
EHR = "https://ehr.example"
EC = ECKey.generate_key("P-384", parameters={"kid": "ec-1"}, private=True)
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)


def public() -> KeySet:
    return KeySet([ECKey.import_key(EC.as_dict(private=False)), RSAKey.import_key(RSA.as_dict(private=False))])


def verifier() -> CdsJwtVerifier:
    return CdsJwtVerifier({EHR: public()}, SERVICE, MemoryJtiStore())


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": EHR, "aud": SERVICE, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())} | changes


def sign(alg: str = "ES384", key: Any = EC, kid: str | None = None, **changes: Any) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid or key.kid}
    return jwt.encode(header, claims(**changes), key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], signature: bytes = b"") -> str:
    """A token built by hand, as an attacker would, with any header and signature."""
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims()).encode())
    return head + "." + b64(signature)


@pytest.mark.parametrize(("alg", "key"), [("ES384", EC), ("RS384", RSA)])
def test_a_correct_token_is_accepted(alg: str, key: Any) -> None:
    assert verifier().verify("Bearer " + sign(alg, key))["iss"] == EHR


def test_audience_may_be_a_list_holding_the_service() -> None:
    assert verifier().verify(sign(aud=[SERVICE, "https://other"]))["aud"][0] == SERVICE


def test_alg_none_is_refused() -> None:
    with pytest.raises(CdsJwtError, match="alg 'none' refused"):
        verifier().verify(forged({"alg": "none", "typ": "JWT", "kid": "ec-1"}))


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    secret = json.dumps(EC.as_dict(private=False)).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": "ec-1"}
    unsigned = forged(header).rsplit(".", 1)[0]
    token = unsigned + "." + b64(hmac.new(secret, unsigned.encode(), hashlib.sha256).digest())
    with pytest.raises(CdsJwtError, match="alg 'HS256' refused"):
        verifier().verify(token)


def test_es256_is_refused_even_with_a_good_signature() -> None:
    p256 = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
    with pytest.raises(CdsJwtError, match="alg 'ES256' refused"):
        verifier().verify(sign("ES256", p256))


def test_wrong_audience_is_refused() -> None:
    with pytest.raises(CdsJwtError, match=r"aud .* is not this service"):
        verifier().verify(sign(aud="https://hub.clinic.example/cds-services/other"))


def test_expired_token_is_refused() -> None:
    past = int(time.time()) - 400
    with pytest.raises(CdsJwtError, match="token expired"):
        verifier().verify(sign(iat=past, exp=past + 300))


def test_lifetime_over_five_minutes_is_refused() -> None:
    now = int(time.time())
    with pytest.raises(CdsJwtError, match="exceeds 300 s"):
        verifier().verify(sign(iat=now, exp=now + 3600))


def test_token_from_the_future_is_refused() -> None:
    later = int(time.time()) + 600
    with pytest.raises(CdsJwtError, match=r"iat .* in the future"):
        verifier().verify(sign(iat=later, exp=later + 60))


def test_replayed_jti_is_refused() -> None:
    check = verifier()
    token = sign()
    check.verify(token)
    with pytest.raises(CdsJwtError, match="already used"):
        check.verify(token)


def test_missing_jti_is_refused() -> None:
    token = jwt.encode({"alg": "ES384", "kid": "ec-1"}, {k: v for k, v in claims().items() if k != "jti"}, EC,
                       algorithms=["ES384"])
    with pytest.raises(CdsJwtError, match="jti is required"):
        verifier().verify(token)


def test_unknown_kid_is_refused() -> None:
    other = ECKey.generate_key("P-384", parameters={"kid": "ec-2"}, private=True)
    with pytest.raises(CdsJwtError, match="kid 'ec-2' is not a key registered"):
        verifier().verify(sign(key=other))


def test_known_kid_with_another_key_fails_the_signature() -> None:
    impostor = ECKey.generate_key("P-384", parameters={"kid": "ec-1"}, private=True)
    with pytest.raises(CdsJwtError, match="signature check failed"):
        verifier().verify(sign(key=impostor))


def test_unregistered_issuer_is_refused() -> None:
    with pytest.raises(CdsJwtError, match="not a registered CDS client"):
        verifier().verify(sign(iss="https://evil.example"))


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c.d", "!!!.e30.x"])
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(CdsJwtError):
        verifier().verify(garbage)


def test_jti_store_forgets_expired_entries() -> None:
    now = [1000.0]
    store = MemoryJtiStore(clock=lambda: now[0])
    assert store.claim(EHR, "j", 1100.0) and not store.claim(EHR, "j", 1100.0)
    assert store.claim("https://other-ehr", "j", 1100.0)  # per issuer
    now[0] = 1200.0
    assert store.claim(EHR, "j", 1500.0)
