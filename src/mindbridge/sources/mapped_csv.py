"""Any CSV whose columns a mapping file describes (`--mapping FILE`, or `mindbridge-mapping.yaml` beside it).

Parsing goes through `csvtable.read_columns` (exact line numbers, careful fallback) and validation
through `tidy`. Row-level problems (a time that does not parse or does not exist in the zone, a bad
UTC offset, no subject, no value in any mapped column) are quarantined once per row; value-level
problems (bounds, duplicates, overlaps) once per measurement. This reader comes last in the registry:
it claims every comma-separated file no other reader recognised, and refuses it with guidance when no
mapping describes its header.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..datapoints import SPECS, Kind
from .base import NotReadable, ReadContext, ReadResult, head_text, read_utf8, subject_from_name
from .csvtable import ColumnType, CsvColumns, header_of, read_columns
from .mapping import EPOCH_FORMATS, FOLDER_MAPPING, Mapping, MappingError, TimeColumn, load_mapping, looks_like_mapping
from .quarantine import Rejected
from .tidy import tidy
from .timezones import localize

OFFSET = r"(?:Z|UTC|[+-]\d\d:?\d\d)"
NAT = np.datetime64("NaT", "ns")
Piece = tuple[np.ndarray, dict[str, np.ndarray]]  # row indices of one stream, and its canonical columns


def mapping_for(header: list[str], path: Path, ctx: ReadContext) -> tuple[Path, Mapping]:
    """The first mapping (given ones, then the folder's) whose columns are all in the CSV header."""
    beside = path.parent / FOLDER_MAPPING
    candidates = [*ctx.mappings, *([beside] if beside.exists() and beside not in ctx.mappings else [])]
    misses = []
    for candidate in candidates:
        try:
            mapping = load_mapping(candidate)
        except MappingError as exc:
            raise NotReadable(str(exc)) from None
        missing = [c for c in mapping.csv_columns() if c not in header]
        if not missing:
            return candidate, mapping
        misses.append(f"{candidate} needs column(s) {missing}")
    if not misses:
        raise NotReadable(f"no reader recognises this CSV (header {header}); describe its columns in a mapping "
                          f"file (docs/mapping-files.md) and pass --mapping FILE, or put {FOLDER_MAPPING} beside it")
    raise NotReadable(f"no mapping describes this CSV (header {header}): {'; '.join(misses)}")


def parse_times(strings: np.ndarray, spec: TimeColumn) -> tuple[np.ndarray, np.ndarray]:
    """Times as datetime64[ns], and a mask of those that carried a UTC offset (already UTC) vs wall clock.

    Epoch columns arrive as numbers (parsed by the CSV table), every other format as text.
    """
    if spec.format in EPOCH_FORMATS:
        scale = EPOCH_FORMATS[spec.format]
        num = strings.astype(np.float64)
        ok = np.isfinite(num) & (np.abs(num) * scale < 9e18)
        whole = np.floor(np.where(ok, num, 0))  # whole units are exact in float64; scale them as integers
        ns = whole.astype(np.int64) * scale + np.round((np.where(ok, num, 0) - whole) * scale).astype(np.int64)
        out = ns.view("datetime64[ns]")
        out[~ok] = NAT
        return out, np.ones(len(out), dtype=bool)
    text = pd.Series(strings, dtype=object)
    if spec.format == "iso":
        aware = text.str.contains(OFFSET + "$", regex=True, na=False).to_numpy(dtype=bool)
        fmt = "ISO8601"
    else:
        aware = np.full(len(text), "%z" in spec.format or "%Z" in spec.format)
        fmt = spec.format
    out = np.full(len(text), NAT)
    for mask, utc in ((aware, True), (~aware, False)):
        if mask.any():
            parsed = pd.to_datetime(text[mask], format=fmt, utc=utc, errors="coerce")
            if utc:
                parsed = parsed.dt.tz_localize(None)
            out[mask] = parsed.to_numpy(dtype="datetime64[ns]")
    return out, aware


def parse_offsets(strings: np.ndarray) -> np.ndarray:
    """UTC offsets like '+02:00', '-0500', 'Z' or 'UTC' as timedelta64[ns]; NaT where unreadable."""
    parts = pd.Series(strings, dtype=object).str.extract(r"^\s*(?:(Z|UTC)|([+-])(\d\d):?(\d\d))\s*$")
    sign = np.where(parts[1] == "-", -1, 1)
    minutes = pd.to_numeric(parts[2]).to_numpy(dtype=float) * 60 + pd.to_numeric(parts[3]).to_numpy(dtype=float)
    minutes = np.where(parts[0].notna().to_numpy(), 0.0, sign * minutes)
    out = np.where(np.isnan(minutes), 0, minutes).astype(np.int64).astype("timedelta64[m]").astype("timedelta64[ns]")
    out[np.isnan(minutes)] = np.timedelta64("NaT", "ns")
    return out


def offset_label(offset: np.timedelta64) -> str:
    """A UTC offset as '+HH:MM'."""
    minutes = int(offset / np.timedelta64(1, "m"))
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class Rows:
    """The rows of one CSV after time handling: UTC times and ends, and the rows refused as a whole."""

    def __init__(self, path: Path, mapping: Mapping, cols: CsvColumns, ctx: ReadContext, notes: list[str]) -> None:
        self.cols = cols
        self.refused: dict[int, str] = {}
        zone = mapping.timezone or ctx.tz
        time, aware = parse_times(cols.columns[mapping.time.column], mapping.time)
        self.refuse(np.isnat(time), f"unparseable or missing time in column {mapping.time.column!r}")
        offsets = None
        if mapping.timezone_column:
            offsets = parse_offsets(cols.columns[mapping.timezone_column])
            self.refuse(np.isnat(offsets) & ~aware, f"unreadable UTC offset in column {mapping.timezone_column!r}")
            good = offsets[~np.isnat(offsets)]
            if zone is None:
                values, counts = np.unique(good, return_counts=True) if len(good) else ([np.timedelta64(0)], [1])
                zone = offset_label(values[int(np.argmax(counts))])
                if len(values) > 1:
                    notes.append(f"UTC offsets vary in {mapping.timezone_column!r}; local days use {zone}, "
                                 "the most frequent (name an IANA 'timezone' to follow daylight saving)")
        elif zone is None and (~aware & ~np.isnat(time)).any():
            raise NotReadable(str(MappingError(path, "timezone", "the times carry no UTC offset: name the zone "
                                                                 "(IANA), a 'timezone_column', or pass --tz")))
        self.tz = zone or "UTC"
        if zone is None:
            notes.append("times carry UTC offsets and no zone is named: local days are UTC days")
        self.time = self._to_utc(time, aware, offsets, zone)
        self.end: np.ndarray | None = None
        if mapping.end is not None:
            end, end_aware = parse_times(cols.columns[mapping.end.column], mapping.end)
            self.refuse(np.isnat(end), f"unparseable or missing end time in column {mapping.end.column!r}")
            self.end = self._to_utc(end, end_aware, offsets, zone)
        elif mapping.epoch_seconds is not None:
            self.end = self.time + np.timedelta64(round(mapping.epoch_seconds * 1e9), "ns")

    def _to_utc(self, t: np.ndarray, aware: np.ndarray, offsets: np.ndarray | None, zone: str | None) -> np.ndarray:
        out = t.copy()
        wall = ~aware & ~np.isnat(t)
        if offsets is not None:
            out[wall] = t[wall] - offsets[wall]
        elif wall.any():
            assert zone is not None
            out[wall], unplaced = localize(t[wall], zone)
            self.refuse(np.flatnonzero(wall)[unplaced], f"local time does not exist or is ambiguous in {zone} "
                                                         "(daylight-saving change)")
        return out

    def refuse(self, rows: np.ndarray, reason: str) -> None:
        """Refuse whole rows (a mask or indices), keeping the first reason given for each."""
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows
        for i in idx:
            self.refused.setdefault(int(i), reason)

    def rejected(self, path: Path) -> list[Rejected]:
        """Quarantine records of the rows refused as a whole."""
        return [Rejected(str(path), self.cols.where(i), why, self.cols.raw(i))
                for i, why in sorted(self.refused.items())]


def split(rows: np.ndarray, keys: dict[str, np.ndarray | str | None]) -> Iterator[tuple[dict[str, object], np.ndarray]]:
    """Rows grouped by per-row key columns; a key given as one value (or None) does not split them."""
    fixed: dict[str, object] = {k: v for k, v in keys.items() if not isinstance(v, np.ndarray)}
    varying = {k: v[rows] for k, v in keys.items() if isinstance(v, np.ndarray)}
    if not varying:
        yield fixed, rows
        return
    for values, idx in pd.DataFrame(varying).groupby(list(varying), dropna=False).indices.items():
        named = dict(zip(varying, values if isinstance(values, tuple) else (values,), strict=True))
        yield {**fixed, **named}, rows[idx]


def gathered(parts: list[Piece], field: str, categorical: bool) -> np.ndarray:
    """One field of a series across its pieces; blank (None or NaN) where a piece does not map it."""
    blank, dtype = (None, object) if categorical else (np.nan, np.float64)
    return np.concatenate([p[1][field] if field in p[1] else np.full(len(p[0]), blank, dtype=dtype)
                           for p in parts])


class MappedCsv:
    """Any CSV described by a mapping file."""

    name = "mapped-csv"
    description = "any CSV described by a mapping file (--mapping FILE, or mindbridge-mapping.yaml beside it)"

    def sniff(self, head: bytes, path: Path) -> bool:
        """A mapping file itself, or comma-separated text with a header of two or more plain names."""
        text = head_text(head)
        if not text:
            return False
        if looks_like_mapping(text):
            return True
        header = header_of(text.encode("utf-8"))
        return len(header) >= 2 and all(h.strip() and h.strip()[0] not in "{[<" for h in header)

    def read(self, path: Path, ctx: ReadContext) -> ReadResult:
        """Read the CSV with the mapping that describes it (or validate a mapping file found in a folder)."""
        data, note = read_utf8(path)
        result = ReadResult(path, self.name, notes=[note] if note else [])
        if looks_like_mapping(data[:65536].decode("utf-8", errors="replace")):
            try:
                load_mapping(path)
            except MappingError as exc:
                raise NotReadable(str(exc)) from None
            result.notes.append("a mapping file: it describes the CSV files beside it")
            return result
        mapping_path, mapping = mapping_for(header_of(data), path, ctx)
        result.notes.append(f"columns as described by {mapping_path}")
        types: dict[str, ColumnType] = {c: ("str" if mapping.is_text(c) else "float") for c in mapping.csv_columns()}
        cols = read_columns(path, data, types)
        result.rejected.extend(cols.rejected)
        result.rows_in += len(cols.rejected)
        rows = Rows(path, mapping, cols, ctx, result.notes)
        subjects: np.ndarray | str = ctx.subject or mapping.subject or subject_from_name(path)
        sources: np.ndarray | str = mapping.source or "csv"
        if mapping.subject_column:
            subjects = cols.columns[mapping.subject_column]
            rows.refuse(pd.isna(subjects), f"missing subject in column {mapping.subject_column!r}")
        if mapping.source_column:
            sources = cols.columns[mapping.source_column]
            rows.refuse(pd.isna(sources), f"missing source in column {mapping.source_column!r}")
        pieces, used = self._pieces(mapping, cols, rows, subjects, sources)
        rows.refuse(~used, "no value in any mapped column")
        result.rejected.extend(rows.rejected(path))
        result.rows_in += len(rows.refused)
        for (subject, kind, source), parts in pieces.items():
            self._series(result, path, rows, subject, kind, source, parts)
        return result

    @staticmethod
    def _pieces(mapping: Mapping, cols: CsvColumns, rows: Rows, subjects: np.ndarray | str,
                sources: np.ndarray | str) -> tuple[dict[tuple[str, Kind, str], list[Piece]], np.ndarray]:
        """Rows of each (subject, kind, source) series with their canonical columns; and which rows gave a value."""
        n = len(cols)
        whole = np.ones(n, dtype=bool)
        whole[list(rows.refused)] = False
        used = np.zeros(n, dtype=bool)
        pieces: dict[tuple[str, Kind, str], list[Piece]] = defaultdict(list)
        for v in mapping.values:
            spec = SPECS[v.kind]
            fields: dict[str, np.ndarray] = {}
            for f, c in v.columns.items():
                fields[f] = cols.columns[c] * v.factor(f) if spec.columns[f] != "" else cols.columns[c]
            for f, value in v.fixed.items():
                fields[f] = np.full(n, value, dtype=object)
            has = ~pd.isna(fields[spec.primary])
            used |= has
            for key, idx in split(np.flatnonzero(has & whole), {"subject": subjects, "source": sources}):
                pieces[(str(key["subject"]), v.kind, str(key["source"]))].append(
                    (idx, {f: a[idx] for f, a in fields.items()}))
        return pieces, used

    @staticmethod
    def _series(result: ReadResult, path: Path, rows: Rows, subject: str, kind: Kind, source: str,
                parts: list[Piece]) -> None:
        spec = SPECS[kind]
        idx = np.concatenate([p[0] for p in parts])
        columns = {f: gathered(parts, f, unit == "") for f, unit in spec.columns.items()
                   if any(f in p[1] for p in parts)}
        series, stats = tidy(file=str(path), subject=subject, kind=kind, source=source, tz=rows.tz,
                             time=rows.time[idx], end=rows.end[idx] if spec.interval and rows.end is not None else None,
                             columns=columns, where=lambda k: rows.cols.where(int(idx[k])),
                             raw=lambda k: rows.cols.raw(int(idx[k])))
        result.add(series, stats)
