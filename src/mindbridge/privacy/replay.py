"""Replay protection: per-device highest sequence number plus every envelope id seen.

`ReplayGuard.check` only looks; `ReplayGuard.record` checks again and records in one step, and is called
by the opener only after every other check passed, so a refused envelope leaves the guard unchanged.
A sequence number must exceed the device's highest so far; an envelope id may never come back.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from .errors import ReplayDetected


class ReplayGuard(Protocol):
    """Where seen envelopes are remembered."""

    def check(self, sender: str, seq: int, envelope_id: str) -> None:
        """Raise ReplayDetected if this envelope would be a replay; change nothing."""
        ...

    def record(self, sender: str, seq: int, envelope_id: str) -> None:
        """Atomically check and remember this envelope."""
        ...

    def state(self) -> tuple[dict[str, int], frozenset[str]]:
        """Highest sequence per sender and the set of seen ids (for audits and tests)."""
        ...


def refuse_replay(sender: str, seq: int, envelope_id: str, highest: int | None, seen: bool) -> None:
    """Raise ReplayDetected for an envelope id already seen or a sequence not above the sender's highest."""
    if seen:
        raise ReplayDetected(f"envelope {envelope_id} was already accepted")
    if highest is not None and seq <= highest:
        raise ReplayDetected(f"sequence {seq} from {sender} is not above the highest accepted ({highest})")


class MemoryReplayGuard:
    """A replay guard in memory (one process, tests)."""

    def __init__(self) -> None:
        self._highest: dict[str, int] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def check(self, sender: str, seq: int, envelope_id: str) -> None:
        """Raise ReplayDetected if this envelope would be a replay; change nothing."""
        refuse_replay(sender, seq, envelope_id, self._highest.get(sender), envelope_id in self._seen)

    def record(self, sender: str, seq: int, envelope_id: str) -> None:
        """Atomically check and remember this envelope."""
        with self._lock:
            self.check(sender, seq, envelope_id)
            self._highest[sender] = seq
            self._seen.add(envelope_id)

    def state(self) -> tuple[dict[str, int], frozenset[str]]:
        """Highest sequence per sender and the set of seen ids."""
        return dict(self._highest), frozenset(self._seen)


class SqliteReplayGuard:
    """A replay guard in a SQLite file (WAL mode); `record` runs in one IMMEDIATE transaction."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS highest (sender TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (envelope_id TEXT PRIMARY KEY, sender TEXT NOT NULL)")
        self._lock = threading.Lock()

    def check(self, sender: str, seq: int, envelope_id: str) -> None:
        """Raise ReplayDetected if this envelope would be a replay; change nothing."""
        row = self._db.execute("SELECT seq FROM highest WHERE sender = ?", (sender,)).fetchone()
        seen = self._db.execute("SELECT 1 FROM seen WHERE envelope_id = ?", (envelope_id,)).fetchone()
        refuse_replay(sender, seq, envelope_id, row[0] if row else None, seen is not None)

    def record(self, sender: str, seq: int, envelope_id: str) -> None:
        """Atomically check and remember this envelope."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self.check(sender, seq, envelope_id)
                self._db.execute("INSERT INTO highest VALUES (?, ?) ON CONFLICT(sender) DO UPDATE SET seq = "
                                 "excluded.seq", (sender, seq))
                self._db.execute("INSERT INTO seen VALUES (?, ?)", (envelope_id, sender))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def state(self) -> tuple[dict[str, int], frozenset[str]]:
        """Highest sequence per sender and the set of seen ids."""
        highest = dict(self._db.execute("SELECT sender, seq FROM highest").fetchall())
        return highest, frozenset(r[0] for r in self._db.execute("SELECT envelope_id FROM seen"))

    def close(self) -> None:
        """Close the database."""
        self._db.close()
