"""Shared pieces of every mapping: R4 JSON through the `fhir.resources` R4B models, instants and decimals."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

Resource = dict[str, Any]


def finish(resource: Resource) -> Resource:
    """Type-check `resource` with its R4B model and return it as R4 JSON (no nulls, canonical instants)."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    out: Resource = model.model_dump(mode="json", exclude_none=True)
    return out


def instant(value: dt.datetime, field: str) -> str:
    """An ISO 8601 instant with its offset; naive datetimes are refused, naming `field`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: datetime {value.isoformat()} has no time zone; FHIR needs an offset")
    return value.isoformat()


def decimal(value: float, field: str) -> float:
    """A finite float for a FHIR decimal; NaN or infinity is refused, naming `field`."""
    if not math.isfinite(value):
        raise ValueError(f"{field}: {value} is not a finite number; FHIR decimals cannot hold it")
    return float(value)


def quantity(value: float, unit: str, field: str) -> dict[str, Any]:
    """A UCUM Quantity; an empty unit leaves the quantity unitless rather than inventing one."""
    out: dict[str, Any] = {"value": decimal(value, field)}
    if unit:
        out |= {"unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    return out


def reference(ref: str, display: str | None = None) -> dict[str, str]:
    """A literal Reference (e.g. "Patient/123" or a bundle-local "urn:uuid:...")."""
    out = {"reference": ref}
    if display:
        out["display"] = display
    return out
