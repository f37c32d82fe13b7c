"""SMART Backend Services (client_credentials with private_key_jwt): discovery, client assertion, cached token.

Per the SMART App Launch 2.x "Backend Services" profile: discover `{fhirBase}/.well-known/smart-configuration`,
then POST `grant_type=client_credentials`, the requested `scope` (SMART v2 system scopes such as
`system/RiskAssessment.c`) and a `client_assertion` JWT signed ES384 with `iss` = `sub` = client id,
`aud` = the token URL, `exp` at most five minutes ahead and a unique `jti`. The access token is reused until
shortly before it expires, and dropped when a FHIR call answers 401.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey
from pydantic import BaseModel, ConfigDict, ValidationError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # seconds: the profile's ceiling for `exp`
REFRESH_MARGIN = 30  # seconds before expiry at which a cached token is renewed
SCOPE_V2 = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(?=[cruds])c?r?u?d?s?$")


class SmartError(Exception):
    """Discovery or token request failed; the message names the URL and what was wrong."""


class SmartConfiguration(BaseModel):
    """The parts of `.well-known/smart-configuration` a backend-services client relies on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    token_endpoint: str
    grant_types_supported: list[str] = []
    token_endpoint_auth_methods_supported: list[str] = []
    token_endpoint_auth_signing_alg_values_supported: list[str] = []


def discover(fhir_base: str, http: httpx.Client) -> SmartConfiguration:
    """Fetch and check the server's SMART configuration (client_credentials, private_key_jwt, ES384)."""
    url = f"{fhir_base.rstrip('/')}/.well-known/smart-configuration"
    response = http.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise SmartError(f"{url}: HTTP {response.status_code}")
    try:
        config = SmartConfiguration.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise SmartError(f"{url}: not a SMART configuration: {exc}") from exc
    needs = [
        ("grant_types_supported", config.grant_types_supported, "client_credentials"),
        ("token_endpoint_auth_methods_supported", config.token_endpoint_auth_methods_supported, "private_key_jwt"),
        ("token_endpoint_auth_signing_alg_values_supported",
         config.token_endpoint_auth_signing_alg_values_supported, "ES384"),
    ]
    for field, values, wanted in needs:
        if values and wanted not in values:
            raise SmartError(f"{url}: {field} lacks {wanted!r} (has {values})")
    return config


def public_jwks(key: ECKey) -> dict[str, Any]:
    """The JWKS to register with the EHR: the public half of `key`, with its kid and alg."""
    return {"keys": [{**key.as_dict(private=False), "alg": "ES384", "use": "sig"}]}


class SmartBackendAuth(httpx.Auth):
    """httpx authentication that adds a SMART backend-services bearer token, fetched once and cached."""

    def __init__(
        self,
        fhir_base: str,
        client_id: str,
        key: ECKey,
        scopes: list[str],
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Set up for `client_id` signing with the P-384 `key` (which must carry a kid), asking for `scopes`."""
        if key.as_dict().get("crv") != "P-384" or not key.kid:
            raise ValueError("key: SMART backend services here signs ES384; give a P-384 key with a kid")
        bad = [scope for scope in scopes if not SCOPE_V2.match(scope)]
        if bad or not scopes:
            raise ValueError(f"scopes: not SMART v2 system scopes (e.g. system/Task.cu): {bad or scopes}")
        self.fhir_base = fhir_base
        self.client_id = client_id
        self.key = key
        self.scope = " ".join(scopes)
        self.http = http or httpx.Client(timeout=10.0)
        self.clock = clock
        self._config: SmartConfiguration | None = None
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @property
    def config(self) -> SmartConfiguration:
        """The discovered SMART configuration (fetched on first use)."""
        if self._config is None:
            self._config = discover(self.fhir_base, self.http)
        return self._config

    def client_assertion(self) -> str:
        """A fresh signed client assertion for the token endpoint (unique jti, exp five minutes ahead)."""
        now = int(self.clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.config.token_endpoint,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": "ES384", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=["ES384"])

    def token(self) -> str:
        """The cached access token, or a new one when there is none or it is about to expire."""
        with self._lock:
            if self._token is not None and self._token[1] - REFRESH_MARGIN > self.clock():
                return self._token[0]
            url = self.config.token_endpoint
            response = self.http.post(url, data={
                "grant_type": "client_credentials",
                "scope": self.scope,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion(),
            })
            body = response.json() if "json" in response.headers.get("content-type", "") else {}
            if response.status_code != 200 or "access_token" not in body:
                detail = body.get("error_description") or body.get("error") or response.text[:200]
                raise SmartError(f"{url}: token request refused (HTTP {response.status_code}): {detail}")
            lifetime = float(body.get("expires_in", ASSERTION_LIFETIME))
            self._token = (str(body["access_token"]), self.clock() + lifetime)
            return self._token[0]

    def forget(self) -> None:
        """Drop the cached token (the server said it is no longer valid)."""
        with self._lock:
            self._token = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the bearer token; on 401 fetch a new token once and resend."""
        request.headers["Authorization"] = f"Bearer {self.token()}"
        response = yield request
        if response.status_code == 401:
            self.forget()
            request.headers["Authorization"] = f"Bearer {self.token()}"
            yield request
