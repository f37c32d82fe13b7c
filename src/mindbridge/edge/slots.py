"""A file of two generation slots overwritten in place: a save is one write and one `fdatasync`, and a torn
write leaves the previous generation readable.

Layout: the superblock `"<format> <slot bytes>\n"`, written once when the file is created and alone in the
file's first `FIRST_SLOT` bytes; then two page-aligned slots of `slot bytes` each. A slot holds the line
`"<generation> <length> <sha256 hex>\n"` and `length` bytes of payload; the SHA-256 covers the generation,
the length and the payload, so a header torn after its first digits is refused, not read as a newer
generation. Generation g lives in slot g % 2: writing g + 1 never touches g, the reader takes the newest
sound slot. A save holds an exclusive lock of the file (`flock`) while it checks and writes, and it checks that
the file is the one it opened, that g is in its slot and that no other writer has saved g + 1 since the state
was read, so two processes feeding one state never overwrite each other's generations: the later save is
refused. Writing in place avoids what an atomic rename costs each time (a new inode, its blocks and the
directory entry, all journalled; docs/edge.md gives the measured difference). A file is created, or re-created
with larger slots when a payload outgrows them, by temporary file, fsync, rename and an fsync of the folder;
it then holds only the new generation.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the generation checks remain
    fcntl = None  # type: ignore[assignment]

SUPER = 64  # the superblock line, padded
PAGE = 4096
FIRST_SLOT = PAGE  # the superblock's page is never rewritten, so a torn sector cannot take it
MAX_DIGITS = 12  # of a slot size, a generation or a length: larger numbers are damage, not data
HEADER_PEEK = 3 * MAX_DIGITS + 68  # enough bytes for any slot header line: three numbers and a SHA-256 in hex
_sync = getattr(os, "fdatasync", os.fsync)  # fdatasync skips the inode's times; macOS has only fsync


def _lock(fd: int) -> None:
    """Hold an exclusive advisory lock on the open file until it is closed (POSIX; a no-op elsewhere)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


class SlotError(ValueError):
    """Neither slot of the file holds a sound generation, or the file is not a slot file of the format."""


@dataclass(frozen=True)
class Generation:
    """The newest sound generation of a slot file: its number and its payload."""

    number: int
    payload: bytes


def _superblock(fmt: str, slot_bytes: int) -> bytes:
    line = f"{fmt} {slot_bytes}".encode("ascii")
    if len(line) >= SUPER:
        raise ValueError(f"format name {fmt!r} is too long for the superblock")
    return line.ljust(SUPER - 1) + b"\n"


def _number(field: bytes) -> int | None:
    """A non-negative decimal of at most `MAX_DIGITS` digits, else None."""
    return int(field) if 0 < len(field) <= MAX_DIGITS and field.isdigit() else None


def _digest(number: bytes, length: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(number + b" " + length + b"\n" + payload).hexdigest().encode("ascii")


def _record(number: int, payload: bytes) -> bytes:
    generation, length = str(number).encode("ascii"), str(len(payload)).encode("ascii")
    return generation + b" " + length + b" " + _digest(generation, length, payload) + b"\n" + payload


def slot_offset(number: int, slot_bytes: int) -> int:
    """Where generation `number`'s slot begins in a file with slots of `slot_bytes`."""
    return FIRST_SLOT + (number % 2) * slot_bytes


def slot_size(data: bytes, fmt: str) -> int | None:
    """The slot size a file's bytes declare in their superblock, or None when they do not start one of `fmt`."""
    head = data[:SUPER]
    if len(head) < SUPER or not head.startswith(fmt.encode("ascii") + b" ") or not head.endswith(b"\n"):
        return None
    size = _number(head[len(fmt) + 1:].strip())
    return size if size else None


def _parse_slot(raw: bytes) -> tuple[int, bytes] | str:
    """(generation, payload) of a sound slot, else why it is not sound."""
    line, newline, rest = raw.partition(b"\n")
    if not line.strip(b"\0"):
        return "empty"
    fields = line.split(b" ")
    if not newline or len(fields) != 3 or _number(fields[0]) is None or (length := _number(fields[1])) is None:
        return "no slot header"
    payload = rest[:length]
    if len(payload) != length:
        return "truncated"
    if _digest(fields[0], fields[1], payload) != fields[2]:
        return "checksum mismatch"
    return int(fields[0]), payload


def _generation_at(raw: bytes) -> int | None:
    """The generation a slot's header line claims (unchecked), or None."""
    fields = raw.partition(b"\n")[0].split(b" ")
    return _number(fields[0]) if len(fields) == 3 else None


def read_newest(data: bytes, fmt: str, where: str) -> Generation:
    """The newest sound generation in a slot file's bytes; SlotError names the file and each slot's fault."""
    slot_bytes = slot_size(data, fmt)
    if slot_bytes is None:
        raise SlotError(f"{where}: not a {fmt} file")
    found: list[tuple[int, bytes]] = []
    faults = []
    for k in (0, 1):
        start = slot_offset(k, slot_bytes)
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
    return Generation(number, payload)


def write_generation(path: Path, fmt: str, number: int, payload: bytes, slot_bytes: int) -> None:
    """Store generation `number` in its slot of `path`.

    In place when `path` is already a slot file of `fmt` whose slots fit the payload; otherwise the file is
    created (or re-created) holding only this generation, with slots of at least `slot_bytes`, by temporary
    file, fsync, rename and an fsync of the folder. The checks and the write run under an exclusive lock of
    the file. SlotError when the file changed since it was read: replaced, generation `number - 1` not where
    the save expects it, or generation `number` already saved by another process; OSError when the disk refuses.
    """
    record = _record(number, payload)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        _create(path, fmt, number, record, slot_bytes)
        return
    try:
        _lock(fd)  # another saver of this file waits here until this save is done
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise SlotError(f"{path}: the file was replaced since it was read (another process saving the same "
                            "state?); not overwriting it")
        size = slot_size(os.pread(fd, SUPER, 0), fmt)
        if size is not None:
            _check_generations(path, fd, size, number, record)
            if len(record) <= size:
                _write_at(fd, slot_offset(number, size), record, path)
                return
        if fcntl is not None:
            _create(path, fmt, number, record, slot_bytes)  # still locked: a waiting saver then finds it replaced
            return
    finally:
        os.close(fd)
    _create(path, fmt, number, record, slot_bytes)  # without locks (Windows), where an open file cannot be replaced


def _write_at(fd: int, at: int, record: bytes, path: Path) -> None:
    """Write all of `record` at offset `at`, then `fdatasync`; OSError when the disk takes no byte."""
    view = memoryview(record)
    while view:
        written = os.pwrite(fd, view, at)
        if written <= 0:
            raise OSError(f"{path}: the disk took no bytes of the state")
        view, at = view[written:], at + written
    _sync(fd)


def _check_generations(path: Path, fd: int, slot_bytes: int, number: int, record: bytes) -> None:
    """SlotError unless generation `number - 1` is in its slot and no other sound generation `number` or later
    is in the slot the save takes (the same record, a retry's own, is allowed)."""
    before = _generation_at(os.pread(fd, HEADER_PEEK, slot_offset(number - 1, slot_bytes)))
    at = slot_offset(number, slot_bytes)
    claimed = _generation_at(os.pread(fd, HEADER_PEEK, at))
    taken = claimed is not None and claimed >= number
    if taken:  # unless torn (nobody's generation) or this save's own earlier attempt
        raw = os.pread(fd, slot_bytes, at)
        taken = not isinstance(_parse_slot(raw), str) and not raw.startswith(record)
    if before != number - 1:
        held = "no generation" if before is None else f"generation {before}"
        raise SlotError(f"{path}: the slot of generation {number - 1} holds {held}: the file changed since it was "
                        "read (another process saving the same state?); not overwriting it")
    if taken:
        raise SlotError(f"{path}: generation {claimed} is saved already, by another process or by an earlier save "
                        "of this one that failed after writing; not overwriting it (re-open the state to go on)")


def _create(path: Path, fmt: str, number: int, record: bytes, slot_bytes: int) -> None:
    """A new slot file at `path` holding only `record`, by temporary file, fsync, rename and a folder fsync."""
    size = -(-max(slot_bytes, len(record)) // PAGE) * PAGE
    image = bytearray(FIRST_SLOT + 2 * size)
    image[:SUPER] = _superblock(fmt, size)
    at = slot_offset(number, size)
    image[at:at + len(record)] = record
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(image)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    if os.name == "posix":  # the rename is durable once the folder is synced (Windows cannot open a folder)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
