"""Mapping files: a small YAML document that tells the generic CSV reader what each column means.

The structure is validated with pydantic and the meaning with the kinds' specs and the unit table,
so every mistake is reported as `<file>: field '<path>': <what is wrong>`. See docs/mapping-files.md.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..datapoints import SPECS, Kind, SeriesError, check_timezone
from .units import UnitError, factor

FOLDER_MAPPING = "mindbridge-mapping.yaml"
EPOCH_FORMATS = {"epoch_s": 1_000_000_000, "epoch_ms": 1_000_000}  # nanoseconds per unit
# Kinds whose rows are told apart by a label column, not by time alone: one series per label.

Name = Annotated[str, Field(min_length=1)]


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the field."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: field '{field}': {problem}" if field else f"{path}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeColumn(_Strict):
    """A time column and how to read it: 'iso' (default), 'epoch_s', 'epoch_ms', or a strptime format."""

    column: Name
    format: Name = "iso"


class ValueColumns(_Strict):
    """One stream of measurements: its kind, which CSV column fills each field, units, fixed fields."""

    kind: Kind
    columns: dict[str, Name] = Field(min_length=1)
    units: dict[str, Name] = Field(default_factory=dict)
    fixed: dict[str, Name] = Field(default_factory=dict)

    def factor(self, field: str) -> float:
        """Multiplier from the declared unit of `field` to its canonical unit (1 when none is declared)."""
        unit = self.units.get(field)
        return 1.0 if unit is None else factor(self.kind, field, unit)


class Mapping(_Strict):
    """What the columns of a CSV mean."""

    time: TimeColumn
    end: TimeColumn | None = None
    epoch_seconds: float | None = Field(default=None, gt=0)
    timezone: Name | None = None
    timezone_column: Name | None = None
    subject: Name | None = None
    subject_column: Name | None = None
    source: Name | None = None
    source_column: Name | None = None
    values: list[ValueColumns] = Field(min_length=1)

    def csv_columns(self) -> list[str]:
        """Every CSV column the mapping reads."""
        named = [self.time.column, self.end.column if self.end else None, self.timezone_column,
                 self.subject_column, self.source_column]
        cols = [c for c in named if c] + [c for v in self.values for c in v.columns.values()]
        return list(dict.fromkeys(cols))

    def is_text(self, column: str) -> bool:
        """True when a CSV column is read as text (times, labels, categorical fields), not as a number."""
        epochs = [t.column for t in (self.time, self.end) if t is not None and t.format in EPOCH_FORMATS]
        return column not in epochs and not any(c == column and SPECS[v.kind].columns[f] != ""
                                                for v in self.values for f, c in v.columns.items())


def _check(mapping: Mapping, path: Path) -> Mapping:
    """Meaning checks pydantic cannot do: fields of each kind, units, zones, one way to name subject and source."""
    for a, b in (("subject", "subject_column"), ("source", "source_column"), ("timezone", "timezone_column"),
                 ("end", "epoch_seconds")):
        if getattr(mapping, a) is not None and getattr(mapping, b) is not None:
            raise MappingError(path, b, f"give either '{a}' or '{b}', not both")
    if mapping.timezone is not None:
        try:
            check_timezone(mapping.timezone)
        except SeriesError as exc:
            raise MappingError(path, "timezone", str(exc)) from None
    for i, v in enumerate(mapping.values):
        spec = SPECS[v.kind]
        for group in ("columns", "units", "fixed"):
            for f in getattr(v, group):
                if f not in spec.columns:
                    raise MappingError(path, f"values[{i}].{group}.{f}",
                                       f"{v.kind.value} has no field {f!r}; its fields are {list(spec.columns)}")
        if spec.primary not in v.columns:
            raise MappingError(path, f"values[{i}].columns",
                               f"{v.kind.value} needs a column for its main field {spec.primary!r}")
        for f in v.units:
            if spec.columns[f] == "":
                raise MappingError(path, f"values[{i}].units.{f}", f"{f!r} is categorical: it has no unit")
            try:
                v.factor(f)
            except UnitError as exc:
                raise MappingError(path, f"values[{i}].units.{f}", str(exc)) from None
        for f in v.fixed:
            if spec.columns[f] != "" or f in v.columns:
                raise MappingError(path, f"values[{i}].fixed.{f}",
                                   "only a categorical field without a column can be fixed")
        if spec.interval and mapping.end is None and mapping.epoch_seconds is None:
            raise MappingError(path, "end", f"{v.kind.value} is measured over intervals: give 'end' (a column) "
                                            "or 'epoch_seconds' (a fixed length)")
    return mapping


def parse_mapping(text: str, path: Path) -> Mapping:
    """Validate mapping YAML text; errors name `path` and the field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MappingError(path, "", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise MappingError(path, "", "a mapping file is a YAML mapping with at least 'time' and 'values'")
    try:
        mapping = Mapping.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in first["loc"]).replace(".[", "[")
        raise MappingError(path, field, first["msg"]) from None
    return _check(mapping, path)


def load_mapping(path: Path) -> Mapping:
    """Read and validate one mapping file (cached while the file is unchanged)."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise MappingError(path, "", f"cannot read the mapping file: {exc.strerror}") from None
    return _load(path, stamp)


@functools.lru_cache(maxsize=64)
def _load(path: Path, stamp: int) -> Mapping:
    return parse_mapping(path.read_text(encoding="utf-8-sig"), path)


def looks_like_mapping(text: str) -> bool:
    """True when YAML text has a mapping file's required top-level keys."""
    if "time" not in text or "values" not in text:  # spare the YAML parser most CSV heads
        return False
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(doc, dict) and "time" in doc and "values" in doc
