"""The EHR's FHIR server over httpx: push transaction bundles (safe to retry), read and search resources.

Bundles from `bundle.py` are idempotent, so a push that fails in transit (connection error, 429, 5xx) is
simply sent again, up to `retries` times with exponential back-off; a 4xx other than 429 is final and raised
with the server's OperationOutcome diagnostics. A bundle split to fit a server's size limit is atomic per
part only; pushing the whole bundle again after a failure completes it without duplicating anything.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOCATION = re.compile(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$")


class FhirError(Exception):
    """The FHIR server refused a request; `status` and `outcome` hold what it said."""

    def __init__(self, method: str, url: str, status: int, outcome: dict[str, Any]) -> None:
        """Build the message from the method, URL, status and the OperationOutcome's diagnostics."""
        said = "; ".join(_issue_text(issue) for issue in outcome.get("issue", []))
        super().__init__(f"{method} {url}: HTTP {status}: {said or outcome}")
        self.status = status
        self.outcome = outcome


def _issue_text(issue: dict[str, Any]) -> str:
    text = issue.get("diagnostics") or issue.get("details", {}).get("text", "")
    where = f" at {', '.join(issue['expression'])}" if issue.get("expression") else ""
    return f"{issue.get('severity', '?')} {issue.get('code', '?')}: {text}{where}"


def _literal(location: str) -> str:
    """ "Type/id" from a response location, which may be absolute and may carry /_history/<version>."""
    found = LOCATION.search(location)
    return found.group(1) if found else location


def _replace(value: Any, resolved: dict[str, str]) -> Any:
    """`value` with every reference to a resolved placeholder replaced by its literal reference."""
    if isinstance(value, dict):
        return {k: resolved.get(v, v) if k == "reference" and isinstance(v, str) else _replace(v, resolved)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(item, resolved) for item in value]
    return value


@dataclass(frozen=True)
class PushResult:
    """What a transaction did: per entry, its HTTP status and the resource's location."""

    statuses: list[str]
    locations: list[str]

    @property
    def created(self) -> int:
        """How many entries created a new resource (201)."""
        return sum(status.startswith("201") for status in self.statuses)


class EhrClient:
    """A small FHIR R4 REST client bound to one server base URL."""

    def __init__(self, base: str, auth: httpx.Auth | None = None, *, max_entries: int | None = None,
                 retries: int = 3, backoff: float = 0.2, timeout: float = 30.0) -> None:
        """Talk to `base` (e.g. https://ehr.example/fhir/R4) with `auth` (e.g. `SmartBackendAuth`); `max_entries`
        is the server's limit on a transaction with conditional creates (Medplum: 8), None for no limit."""
        self.base = base.rstrip("/")
        self.max_entries = max_entries
        self.retries = retries
        self.backoff = backoff
        self.http = httpx.Client(auth=auth, timeout=timeout, headers={"Accept": FHIR_JSON})

    def __enter__(self) -> EhrClient:
        """Use as a context manager that closes the connection pool."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connection pool."""
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                    break
            time.sleep(self.backoff * 2**attempt)
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code >= 400:
            raise FhirError(method, url, response.status_code, body)
        return body

    def push(self, bundle: dict[str, Any]) -> PushResult:
        """POST a transaction bundle, split into consecutive transactions of at most `max_entries` entries when
        the server limits them; placeholders of earlier parts become the locations those parts returned."""
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("bundle: expected a Bundle of type 'transaction'")
        entries = bundle.get("entry", [])
        size = self.max_entries or max(len(entries), 1)
        resolved: dict[str, str] = {}
        statuses: list[str] = []
        locations: list[str] = []
        for start in range(0, len(entries), size):
            part = [_replace(entry, resolved) for entry in entries[start:start + size]]
            reply = self._send("POST", self.base, json={**bundle, "entry": part}, headers={"Content-Type": FHIR_JSON})
            answers = [e.get("response", {}) for e in reply.get("entry", [])]
            statuses += [a.get("status", "") for a in answers]
            locations += [_literal(a.get("location", "")) for a in answers]
            resolved |= {e["fullUrl"]: loc for e, loc in zip(part, locations[start:], strict=False) if "fullUrl" in e}
        return PushResult(statuses=statuses, locations=locations)

    def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        """PUT a resource back at its id (e.g. after changing its status); the server's version is returned."""
        return self._send("PUT", f"{self.base}/{resource['resourceType']}/{resource['id']}", json=resource,
                          headers={"Content-Type": FHIR_JSON})

    def read(self, ref: str) -> dict[str, Any]:
        """Read one resource by its literal reference "<Type>/<id>"."""
        return self._send("GET", f"{self.base}/{ref}")

    def search(self, resource_type: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """All resources of `resource_type` matching `params`, following the searchset's next links."""
        found: list[dict[str, Any]] = []
        page = self._send("GET", f"{self.base}/{resource_type}", params=params or {})
        while True:
            found += [entry["resource"] for entry in page.get("entry", []) if "resource" in entry]
            following = next((link["url"] for link in page.get("link", []) if link.get("relation") == "next"), None)
            if following is None:
                return found
            page = self._send("GET", following)
