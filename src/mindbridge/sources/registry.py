"""The one registry of readers, and format sniffing by content (never by file name)."""

from __future__ import annotations

from pathlib import Path

from .applehealth import AppleHealthExport
from .base import NotReadable, Reader, detect_encoding, read_head
from .depresjon import DepresjonActigraphy, DepresjonScores
from .globem import GlobemReader
from .mapped_csv import MappedCsv
from .openmhealth import OpenMHealthReader

READERS: list[Reader] = [
    DepresjonActigraphy(),
    DepresjonScores(),
    AppleHealthExport(),
    GlobemReader(),
    OpenMHealthReader(),
    MappedCsv(),  # keep last: it claims any CSV the readers above do not recognise
]


def sniff(path: Path) -> Reader:
    """The reader whose format matches the file's first bytes."""
    head = read_head(path)
    if not head.strip():
        raise NotReadable("empty file")
    for reader in READERS:
        if reader.sniff(head, path):
            return reader
    detect_encoding(head)  # a binary file is named as such rather than as an unknown format
    known = "; ".join(r.description for r in READERS)
    raise NotReadable(f"no reader recognises this content. Known formats: {known}")
