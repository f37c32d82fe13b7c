"""Column-typed CSV parsing shared by the CSV readers: a fast Arrow path and a careful line-by-line path.

The fast path parses the whole file with pyarrow under strict column types. Any surprise (a field that
does not parse, a short row, a blank line, quoted newlines) sends the file down the careful path, which
reads it with the csv module so that every refused row is quarantined with its exact line number and
its raw text, and every other row is kept.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .base import NotReadable
from .quarantine import Rejected

ColumnType = Literal["timestamp", "date", "float", "str"]
# Formats Arrow's built-in ISO 8601 parser reads (much faster than a strptime format).
ISO_FORMATS = (None, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
ARROW_BLOCK = 256 * 1024  # small enough that even a 1 MB file is parsed on several threads
NULLS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", " "]


@dataclass
class CsvColumns:
    """Parsed columns (numpy), the source line of each row, and the rows refused while parsing."""

    columns: dict[str, np.ndarray]
    lines: np.ndarray
    raw: Callable[[int], str]
    rejected: list[Rejected] = field(default_factory=list)
    careful: bool = False

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, i: int) -> str:
        """The location of row `i` in the file."""
        return f"line {int(self.lines[i])}"


def header_of(data: bytes) -> list[str]:
    """The header fields of CSV bytes."""
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].decode("utf-8", errors="replace").strip("\r\ufeff")
    return next(csv.reader([first]), [])


def read_columns(path: Path, data: bytes, types: dict[str, ColumnType], *,
                 optional: Sequence[str] = (), timestamp_format: str | None = None) -> CsvColumns:
    """Parse the named columns of CSV bytes; other columns are ignored."""
    header = header_of(data)
    missing = [c for c in types if c not in header and c not in optional]
    if missing:
        raise NotReadable(f"missing column(s) {missing}; the header has {header}")
    wanted = {c: t for c, t in types.items() if c in header}
    if b'"' not in data:
        try:
            return _fast(data, wanted, timestamp_format)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
            pass
    return _careful(path, data, header, wanted, timestamp_format)


_ARROW: dict[ColumnType, pa.DataType] = {"timestamp": pa.timestamp("ns"), "date": pa.date32(),
                                         "float": pa.float64(), "str": pa.string()}


def _fast(data: bytes, wanted: dict[str, ColumnType], fmt: str | None) -> CsvColumns:
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(block_size=ARROW_BLOCK),
        # A blank line becomes a short row, which fails: line numbers stay exact or we go careful.
        parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: _ARROW[t] for c, t in wanted.items()}, include_columns=list(wanted),
            null_values=NULLS, strings_can_be_null=True,
            timestamp_parsers=None if fmt in ISO_FORMATS else [fmt]),
    )
    cols: dict[str, np.ndarray] = {}
    for c, t in wanted.items():
        arr = table.column(c)
        if t == "timestamp":
            cols[c] = arr.to_numpy().astype("datetime64[ns]")
        elif t == "date":
            cols[c] = arr.to_numpy().astype("datetime64[D]")
        elif t == "float":
            cols[c] = arr.to_numpy().astype(np.float64)
        else:
            cols[c] = np.asarray(arr.to_pylist(), dtype=object)
    lines = np.arange(2, table.num_rows + 2)
    nullable = [c for c in wanted if table.column(c).null_count]
    blank = (np.logical_and.reduce([table.column(c).is_null().to_numpy(zero_copy_only=False) for c in wanted])
             if len(nullable) == len(wanted) else np.zeros(table.num_rows, dtype=bool))
    if blank.any():  # blank lines carry no record: skip them as the careful path does
        cols = {c: v[~blank] for c, v in cols.items()}
        lines = lines[~blank]

    return CsvColumns(cols, lines, LineText(data, lines))


class LineText:
    """The file's own text of parsed row `i`; the line index is built on first use (only refusals need it)."""

    def __init__(self, data: bytes, lines: np.ndarray) -> None:
        self._data, self._lines = data, lines
        self._starts: np.ndarray | None = None

    def __call__(self, i: int) -> str:
        if self._starts is None:
            newlines = np.flatnonzero(np.frombuffer(self._data, dtype=np.uint8) == ord("\n"))
            self._starts = np.r_[0, newlines + 1, len(self._data) + 1]
        n = int(self._lines[i]) - 1
        text = self._data[int(self._starts[n]):max(int(self._starts[n]), int(self._starts[n + 1]) - 1)]
        return text.decode("utf-8", errors="replace").rstrip("\r")


def _careful(path: Path, data: bytes, header: list[str], wanted: dict[str, ColumnType],
             fmt: str | None) -> CsvColumns:
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    physical = text.splitlines()
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    idx = {c: header.index(c) for c in wanted}
    rows: list[list[str]] = []
    lines: list[int] = []
    rejected: list[Rejected] = []
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            what = "truncated row" if len(fields) < len(header) else "too many fields"
            rejected.append(Rejected(str(path), f"line {line}",
                                     f"{what}: expected {len(header)} fields, found {len(fields)}",
                                     physical[line - 1] if line <= len(physical) else ",".join(fields)))
            continue
        rows.append(fields)
        lines.append(line)
    cols: dict[str, np.ndarray] = {}
    bad = np.zeros(len(rows), dtype=bool)
    why: dict[int, str] = {}
    for c, t in wanted.items():
        strings = pd.Series([r[idx[c]].strip() for r in rows], dtype=object)
        parsed, failed = _coerce(strings, t, fmt)
        cols[c] = parsed
        for i in np.flatnonzero(failed & ~bad):
            why[int(i)] = f"field {c!r}: cannot read {strings[i]!r} as {t}"
        bad |= failed
    line_arr = np.asarray(lines, dtype=np.int64)
    for k in sorted(why):
        rejected.append(Rejected(str(path), f"line {line_arr[k]}", why[k], physical[line_arr[k] - 1]))
    keep = ~bad
    cols = {c: v[keep] for c, v in cols.items()}
    kept_lines = line_arr[keep]
    return CsvColumns(cols, kept_lines, lambda i: physical[int(kept_lines[i]) - 1], rejected, careful=True)


def _coerce(strings: pd.Series, t: ColumnType, fmt: str | None) -> tuple[np.ndarray, np.ndarray]:
    empty = strings.isin(NULLS).to_numpy()
    if t == "float":
        num = pd.to_numeric(strings.where(~empty), errors="coerce").to_numpy(dtype=np.float64)
        return num, np.isnan(num) & ~empty
    if t in ("timestamp", "date"):
        ts = pd.to_datetime(strings.where(~empty), format=fmt if t == "timestamp" else "%Y-%m-%d",
                            errors="coerce")
        out = ts.to_numpy(dtype="datetime64[ns]")
        if t == "date":
            out = out.astype("datetime64[D]")
        return out, np.isnat(out) & ~empty
    return strings.where(~empty, None).to_numpy(dtype=object), np.zeros(len(strings), dtype=bool)
