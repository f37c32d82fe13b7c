"""A file of two generation slots overwritten in place: a save is one write and one `fdatasync`, and a torn
write leaves the previous generation readable.

Layout: a superblock of `SUPER` bytes, `"<format> <slot bytes>\\n"` padded with spaces, written once when the
file is created; then two slots of `slot bytes` each. A slot holds the line `"<generation> <length> <sha256
hex>\\n"` followed by `length` bytes of payload. Generation g lives in slot g % 2, so writing g + 1 never
touches g: a crash mid-write damages only the slot being written, and the reader takes the newest sound slot.
Writing in place avoids what an atomic rename costs each time (a new inode, its blocks and the directory
entry, all journalled; docs/edge.md gives the measured difference). A file is created, or re-created with
larger slots when a payload outgrows them, by temporary file, fsync and rename.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

SUPER = 64
PAGE = 4096
_sync = getattr(os, "fdatasync", os.fsync)  # fdatasync skips the inode's times; macOS has only fsync


class SlotError(ValueError):
    """Neither slot of the file holds a sound generation, or the file is not a slot file of the format."""


@dataclass(frozen=True)
class Generation:
    """The newest sound generation of a slot file: its number, its payload and the file's slot size."""

    number: int
    payload: bytes
    slot_bytes: int


def _superblock(fmt: str, slot_bytes: int) -> bytes:
    line = f"{fmt} {slot_bytes}".encode("ascii")
    if len(line) >= SUPER:
        raise ValueError(f"format name {fmt!r} is too long for the superblock")
    return line.ljust(SUPER - 1) + b"\n"


def _record(number: int, payload: bytes) -> bytes:
    return f"{number} {len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode("ascii") + payload


def slot_size(data: bytes, fmt: str) -> int | None:
    """The slot size a file's bytes declare in their superblock, or None when they do not start one of `fmt`."""
    head = data[:SUPER]
    if len(head) < SUPER or not head.startswith(fmt.encode("ascii") + b" ") or not head.endswith(b"\n"):
        return None
    size = head[len(fmt) + 1:].strip()
    return int(size) if size.isdigit() and int(size) > 0 else None


def _parse_slot(raw: bytes) -> tuple[int, bytes] | str:
    """(generation, payload) of a sound slot, else why it is not sound."""
    line, newline, rest = raw.partition(b"\n")
    if not line.strip(b"\0"):
        return "empty"
    fields = line.split(b" ")
    if not newline or len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
        return "no slot header"
    length = int(fields[1])
    payload = rest[:length]
    if len(payload) != length:
        return "truncated"
    if hashlib.sha256(payload).hexdigest().encode("ascii") != fields[2]:
        return "checksum mismatch"
    return int(fields[0]), payload


def read_newest(data: bytes, fmt: str, where: str) -> Generation:
    """The newest sound generation in a slot file's bytes; SlotError names the file and each slot's fault."""
    slot_bytes = slot_size(data, fmt)
    if slot_bytes is None:
        raise SlotError(f"{where}: not a {fmt} file")
    found: list[tuple[int, bytes]] = []
    faults = []
    for k in (0, 1):
        start = SUPER + k * slot_bytes
        parsed = _parse_slot(data[start:start + slot_bytes])
        if isinstance(parsed, str):
            faults.append(f"slot {k}: {parsed}")
        elif parsed[0] % 2 != k:
            faults.append(f"slot {k}: holds generation {parsed[0]}, which belongs in the other slot")
        else:
            found.append(parsed)
    if not found:
        raise SlotError(f"{where}: no sound generation ({'; '.join(faults)}): the file is truncated or corrupted")
    number, payload = max(found)
    return Generation(number, payload, slot_bytes)


def write_generation(path: Path, fmt: str, number: int, payload: bytes, slot_bytes: int) -> int:
    """Store generation `number` in its slot of `path`; the slot size the file now has.

    In place when `path` is already a slot file of `fmt` with slots of `slot_bytes` that fit the payload;
    otherwise the file is created (or re-created) holding only this generation, with slots of at least
    `slot_bytes`, by temporary file, fsync and rename.
    """
    record = _record(number, payload)
    if 0 < len(record) <= slot_bytes and _write_in_place(path, fmt, number, record, slot_bytes):
        return slot_bytes
    size = -(-max(slot_bytes, len(record)) // PAGE) * PAGE
    image = bytearray(SUPER + 2 * size)
    image[:SUPER] = _superblock(fmt, size)
    at = SUPER + (number % 2) * size
    image[at:at + len(record)] = record
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(image)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return size


def _write_in_place(path: Path, fmt: str, number: int, record: bytes, slot_bytes: int) -> bool:
    """Overwrite the generation's slot when `path` is a slot file of `fmt` with slots of `slot_bytes`."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        if slot_size(os.pread(fd, SUPER, 0), fmt) != slot_bytes:
            return False
        os.pwrite(fd, record, SUPER + (number % 2) * slot_bytes)
        _sync(fd)
        return True
    finally:
        os.close(fd)
