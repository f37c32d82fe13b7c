"""Unit conversion to each kind's canonical UCUM unit; incompatible units are refused by name."""

from __future__ import annotations

from ..datapoints import SPECS, Kind

# For each (kind, column): accepted unit spellings -> factor to the canonical unit.
_SYNONYMS: dict[str, dict[str, float]] = {
    "/min": {"/min": 1.0, "beats/min": 1.0, "bpm": 1.0, "{beats}/min": 1.0, "1/min": 1.0,
             "Hz": 60.0, "/s": 60.0, "1/s": 60.0},
    "ms": {"ms": 1.0, "s": 1000.0, "sec": 1000.0, "us": 0.001},
    "min": {"min": 1.0, "s": 1 / 60, "sec": 1 / 60, "h": 60.0, "hr": 60.0, "d": 1440.0},
    "mg/dL": {"mg/dL": 1.0, "mg/dl": 1.0, "mmol/L": 18.0182, "mmol/l": 18.0182},
    "m": {"m": 1.0, "km": 1000.0, "mi": 1609.344, "ft": 0.3048, "yd": 0.9144, "cm": 0.01, "mm": 0.001, "in": 0.0254},
    "s": {"s": 1.0, "sec": 1.0, "min": 60.0, "ms": 0.001},
    "nmol/L": {"nmol/L": 1.0, "nmol/l": 1.0, "ug/dL": 27.59, "µg/dL": 27.59},
    "kcal": {"kcal": 1.0, "Cal": 1.0, "kJ": 1 / 4.184},
    "deg": {"deg": 1.0, "deg_i": 1.0},
    "{counts}": {"{counts}": 1.0, "counts": 1.0, "count": 1.0},
    "{steps}": {"{steps}": 1.0, "steps": 1.0, "count": 1.0},
    "{score}": {"{score}": 1.0, "score": 1.0, "1": 1.0},
    "1": {"1": 1.0, "%": 0.01},
}


class UnitError(ValueError):
    """A unit that cannot be converted to the kind's canonical unit."""


def factor(kind: Kind, column: str, unit: str) -> float:
    """Multiplier that turns values in `unit` into the canonical unit of `kind`'s `column`."""
    canonical = SPECS[kind].columns[column]
    table = _SYNONYMS.get(canonical, {canonical: 1.0})
    if unit in table:
        return table[unit]
    raise UnitError(f"{kind.value} {column} cannot be in {unit!r}; accepted units: {', '.join(table)}")
