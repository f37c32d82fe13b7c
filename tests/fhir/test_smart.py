"""SMART Backend Services against the test server's token endpoint: discovery, assertion, caching, refusals."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from fhir_builders import SCOPES, FhirServer, new_key
from joserfc import jwt
from joserfc.jwk import ECKey

from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.smart import ASSERTION_TYPE, SmartBackendAuth, SmartError, discover


def test_discovery_reports_the_token_endpoint(fhir_server: FhirServer) -> None:
    config = discover(fhir_server.fhir_base, httpx.Client())
    assert config.token_endpoint == f"{fhir_server.origin}/auth/token"
    assert "private_key_jwt" in config.token_endpoint_auth_methods_supported


def test_discovery_refuses_a_server_without_private_key_jwt() -> None:
    # A misconfigured server the harness does not play, so httpx's MockTransport serves its configuration.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token_endpoint": "https://x/token",
                                         "token_endpoint_auth_methods_supported": ["client_secret_basic"]})

    with pytest.raises(SmartError, match="token_endpoint_auth_methods_supported lacks 'private_key_jwt'"):
        discover("https://ehr.invalid/fhir", httpx.Client(transport=httpx.MockTransport(handler)))


def test_client_assertion_claims(fhir_server: FhirServer, smart_client: tuple[str, ECKey]) -> None:
    client_id, key = smart_client
    auth = SmartBackendAuth(fhir_server.fhir_base, client_id, key, SCOPES)
    first, second = auth.client_assertion(), auth.client_assertion()
    decoded = jwt.decode(first, key, algorithms=["ES384"])
    claims = decoded.claims
    assert decoded.header["alg"] == "ES384" and decoded.header["kid"] == key.kid
    assert claims["iss"] == claims["sub"] == client_id
    assert claims["aud"] == f"{fhir_server.origin}/auth/token"
    assert 0 < claims["exp"] - time.time() <= 300
    assert claims["jti"] != jwt.decode(second, key, algorithms=["ES384"]).claims["jti"]


def test_token_is_cached_until_it_nears_expiry(fhir_server: FhirServer, smart_client: tuple[str, ECKey]) -> None:
    # Issued "280 s ago" (its assertion still valid for 20 s), the 300 s token then has 20 s left at real time.
    offset = [-280.0]
    auth = SmartBackendAuth(fhir_server.fhir_base, *smart_client, SCOPES, clock=lambda: time.time() + offset[0])
    token = auth.token()
    offset[0] = -80.0
    assert auth.token() == token  # 200 s later, 100 s left: reused without asking
    offset[0] = 0.0
    assert auth.token() != token  # 20 s left is inside the 30 s margin: a new token


def test_a_stale_token_is_replaced_after_a_401(fhir_server: FhirServer, smart_client: tuple[str, ECKey]) -> None:
    auth = SmartBackendAuth(fhir_server.fhir_base, *smart_client, SCOPES)
    auth._token = ("revoked-by-the-server", time.time() + 3600)  # a token the server no longer knows
    with EhrClient(fhir_server.fhir_base, auth) as ehr:
        assert isinstance(ehr.search("Task", {"_count": "1"}), list)  # 401, new token, resent: 200
    assert auth.token() != "revoked-by-the-server"


def test_assertion_signed_with_an_unregistered_key_is_refused(fhir_server: FhirServer,
                                                               smart_client: tuple[str, ECKey]) -> None:
    client_id, key = smart_client
    assert key.kid is not None
    impostor = ECKey.generate_key("P-384", parameters={"kid": key.kid}, private=True)  # same kid, other key
    with pytest.raises(SmartError, match=r"token request refused \(HTTP 401\): bad signature"):
        SmartBackendAuth(fhir_server.fhir_base, client_id, impostor, SCOPES).token()


def test_expired_assertion_is_refused(fhir_server: FhirServer, smart_client: tuple[str, ECKey]) -> None:
    past = time.time() - 600
    auth = SmartBackendAuth(fhir_server.fhir_base, *smart_client, SCOPES, clock=lambda: past)
    with pytest.raises(SmartError, match="exp missing, past"):
        auth.token()


def test_reused_jti_is_refused(fhir_server: FhirServer, smart_client: tuple[str, ECKey]) -> None:
    auth = SmartBackendAuth(fhir_server.fhir_base, *smart_client, SCOPES)
    form = {"grant_type": "client_credentials", "scope": "system/Task.cu", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": auth.client_assertion()}
    url = auth.config.token_endpoint
    assert httpx.post(url, data=form).status_code == 200
    replay = httpx.post(url, data=form)
    assert replay.status_code == 401 and "replayed" in replay.json()["error_description"]


def test_unknown_client_is_refused(fhir_server: FhirServer) -> None:
    with pytest.raises(SmartError, match="unknown client"):
        SmartBackendAuth(fhir_server.fhir_base, f"nobody-{uuid.uuid4()}", new_key(), SCOPES).token()


@pytest.mark.parametrize("scope", ["patient/Task.read", "system/Task.write", "system/task.c", "system/Task."])
def test_scopes_must_be_smart_v2_system_scopes(scope: str) -> None:
    with pytest.raises(ValueError, match="SMART v2 system scopes"):
        SmartBackendAuth("https://ehr.invalid/fhir", "c", new_key(), [scope])


def test_only_p384_keys_sign() -> None:
    p256 = ECKey.generate_key("P-256", parameters={"kid": "k"}, private=True)
    with pytest.raises(ValueError, match="P-384"):
        SmartBackendAuth("https://ehr.invalid/fhir", "c", p256, ["system/Task.c"])
