"""What may travel in an envelope: a small JSON object that cannot carry a raw series.

Two guards, both applied: a structural one (no long numeric arrays, no long lists, no long strings that
could smuggle encoded samples, bounded nesting) and the caller's pydantic schema (for summaries,
`mindbridge.summary.RiskSummary`, which forbids unknown fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import FaultAt, PayloadRefused

MAX_NUMBERS = 16
MAX_ITEMS = 64
MAX_STRING = 2_000
MAX_DEPTH = 6

Model = TypeVar("Model", bound=BaseModel)


def refuse_raw_series(value: object) -> None:
    """Raise PayloadRefused if `value` has the shape of raw data rather than a summary."""
    try:
        _refuse(value, 0)
    except FaultAt as exc:
        raise PayloadRefused(exc.described()) from None


def _refuse(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FaultAt(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise FaultAt(f"string of {len(value)} characters (over {MAX_STRING}) could carry raw data")
    elif isinstance(value, dict | Mapping):
        if len(value) > MAX_ITEMS:
            raise FaultAt(f"object with {len(value)} members (over {MAX_ITEMS})")
        for key, item in value.items():
            try:
                _refuse(item, depth + 1)
            except FaultAt as exc:
                raise exc.under(f".{key}") from None
    elif isinstance(value, list | tuple):
        numbers = sum(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if numbers > MAX_NUMBERS:
            raise FaultAt(f"array of {numbers} numbers (over {MAX_NUMBERS}) looks like a raw series")
        if len(value) > MAX_ITEMS:
            raise FaultAt(f"array of {len(value)} items (over {MAX_ITEMS})")
        for i, item in enumerate(value):
            try:
                _refuse(item, depth + 1)
            except FaultAt as exc:
                raise exc.under(f"[{i}]") from None


def validate_payload(value: object, schema: type[Model]) -> Model:
    """The payload as an instance of `schema`, after the raw-series guard."""
    if not isinstance(value, Mapping):
        raise PayloadRefused("$: the payload must be a JSON object")
    refuse_raw_series(value)
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "$"
        raise PayloadRefused(f"{schema.__name__}.{loc}: {first['msg']} ({exc.error_count()} error(s))") from exc
