"""The reader contract: sniff a file by its content, read it into series, tables and quarantine."""

from __future__ import annotations

import codecs
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
from charset_normalizer import from_bytes

from ..datapoints import Series
from .quarantine import Rejected
from .tidy import TidyStats

SNIFF_BYTES = 64 * 1024


def subject_from_name(path: Path) -> str:
    """A subject id from a file name, without compression and format extensions."""
    name = path.name.removesuffix(".gz")
    return name.rsplit(".", 1)[0] if "." in name else name


class NotReadable(ValueError):
    """A whole file cannot be read (empty, binary, wrong format); the message says why."""


@dataclass(frozen=True)
class ReadContext:
    """Choices a reader cannot infer from the file itself."""

    tz: str | None = None
    subject: str | None = None
    mappings: tuple[Path, ...] = ()  # mapping files for CSVs no built-in reader knows (docs/mapping-files.md)


@dataclass
class ReadResult:
    """What one file yielded: series, tables (labels, daily features), refused records, notes."""

    path: Path
    reader: str
    series: list[Series] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows_in: int = 0
    out_of_order: int = 0

    def add(self, series: Series, stats: TidyStats) -> None:
        """Record one tidied series with its statistics."""
        if len(series):
            self.series.append(series)
        self.rejected.extend(stats.rejected)
        self.rows_in += stats.rows_in
        self.out_of_order += stats.out_of_order

    @property
    def usable(self) -> bool:
        """True when the file gave at least one measurement or table row."""
        return any(len(s) for s in self.series) or any(len(t) for t in self.tables.values())


class Reader(Protocol):
    """One input format."""

    name: str
    description: str

    def sniff(self, head: bytes, path: Path) -> bool:
        """True when the first bytes of the file look like this format."""
        ...

    def read(self, path: Path, ctx: ReadContext) -> ReadResult:
        """Read the whole file."""
        ...


BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(head: bytes) -> str:
    """The text encoding of a file from its first bytes: BOM, then UTF-8, then a statistical guess."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    if b"\x00" in head:
        raise NotReadable("binary content (NUL bytes) and no UTF-16/32 byte-order mark: not a text file")
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sniff window
            return "utf-8"
    best = from_bytes(head).best()
    if best is None:
        raise NotReadable("not text in any known encoding")
    return str(best.encoding)


def head_text(head: bytes) -> str:
    """The sniffed bytes as text, whatever their encoding ('' when they are not text)."""
    try:
        enc = detect_encoding(head)
    except NotReadable:
        return ""
    return head.decode(enc, errors="ignore").lstrip("\ufeff")


GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip (recognised by its magic bytes)."""
    data = path.read_bytes()
    if data.startswith(GZIP_MAGIC):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise NotReadable(f"damaged gzip file: {exc}") from exc
    return data


def read_head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first bytes of the file's content, looking inside gzip."""
    with path.open("rb") as fh:
        head = fh.read(size)
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as gz:
                return gz.read(size)
        except (OSError, EOFError) as exc:
            raise NotReadable(f"damaged gzip file: {exc}") from exc
    return head


def read_utf8(path: Path) -> tuple[bytes, str | None]:
    """The file's bytes as UTF-8, and a note when they had to be converted from another encoding."""
    data = read_bytes(path)
    if not data[:SNIFF_BYTES].strip() and not data.strip():
        raise NotReadable("empty file")
    enc = detect_encoding(data[:SNIFF_BYTES])
    try:
        text = data.decode(enc)
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            raise NotReadable("not text in any known encoding") from None
        enc = str(best.encoding)
        text = data.decode(enc)
    if enc == "utf-8":
        return data, None
    note = None if enc == "utf-8-sig" else f"converted from {enc} to UTF-8"
    return text.lstrip("\ufeff").encode("utf-8"), note
