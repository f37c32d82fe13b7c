"""One patient's persisted edge state: a small, versioned, checksummed file written atomically.

What it holds, all bounded: the last `window_days` days of minute counts (a ring buffer, the raw input
of the trailing-window biomarkers), the last `HISTORY_DAYS` days of daily features and model
probabilities (the personal baseline's input), the last processed day, the device's envelope sequence
number, and the model and signers the device was set up with.

File layout: the line `mindbridge-edge-state/1`, the SHA-256 (hex) of the rest, then the rest as
zlib-compressed JSON; arrays travel as base64 of little-endian float64. A file that is truncated,
altered or of another version is refused with `StateError`, never silently reset.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .daily import COLUMNS, PER_DAY

FORMAT = "mindbridge-edge-state/1"
HISTORY_DAYS = 29  # the day itself and the 28 days of its personal baseline
DEFAULT_WINDOW_DAYS = 7


class StateError(ValueError):
    """The state file cannot be trusted or does not fit this runtime."""


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def _unpack(text: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != 8 * int(np.prod(shape)):
        raise StateError(f"{where}: holds {len(raw) // 8} values, expected {int(np.prod(shape))}")
    return np.frombuffer(raw, dtype="<f8").reshape(shape).astype(float)


@dataclass
class EdgeState:
    """Everything the engine carries from one day to the next for one patient and device."""

    subject: str
    device: str
    tz: str
    source: str
    model_id: str
    model_version: str
    model_sha256: str
    signers: tuple[str, ...] = ()
    window_days: int = DEFAULT_WINDOW_DAYS
    seq: int = 0
    last_day: dt.date | None = None
    first_day: dt.date | None = None
    counts: np.ndarray = field(default_factory=lambda: np.full((0, PER_DAY), np.nan))
    days: list[dt.date] = field(default_factory=list)
    features: np.ndarray = field(default_factory=lambda: np.full((0, len(COLUMNS)), np.nan))
    probability: np.ndarray = field(default_factory=lambda: np.full(0, np.nan))

    def __post_init__(self) -> None:
        if self.window_days < 2:
            raise StateError(f"window_days must be at least 2, got {self.window_days}")

    def ring_start(self) -> dt.date:
        """The local day of the ring buffer's first row."""
        if self.first_day is None:
            raise StateError("the state holds no day yet")
        return self.first_day

    def push_day(self, day: dt.date, minutes: np.ndarray) -> None:
        """Append a day's minute counts (days skipped since the last one become missing rows); keep the window."""
        if self.last_day is not None and day <= self.last_day:
            raise StateError(f"day {day} is not after the last processed day {self.last_day}")
        gap = 0 if self.last_day is None else (day - self.last_day).days - 1
        rows = np.full((min(gap, self.window_days) + 1, PER_DAY), np.nan)
        rows[-1] = minutes
        kept = np.concatenate([self.counts, rows])[-self.window_days:]
        self.first_day = day - dt.timedelta(days=len(kept) - 1)
        self.counts, self.last_day = kept, day

    def push_features(self, day: dt.date, values: dict[str, float], probability: float) -> None:
        """Append the day's features and probability to the bounded history."""
        row = np.array([[values[c] for c in COLUMNS]])
        self.features = np.concatenate([self.features, row])[-HISTORY_DAYS:]
        self.probability = np.r_[self.probability, probability][-HISTORY_DAYS:]
        self.days = [*self.days, day][-HISTORY_DAYS:]

    def to_bytes(self) -> bytes:
        """The file's bytes: format line, checksum line, compressed JSON body."""
        body = {
            "subject": self.subject, "device": self.device, "tz": self.tz, "source": self.source,
            "model": {"id": self.model_id, "version": self.model_version, "sha256": self.model_sha256},
            "signers": list(self.signers), "window_days": self.window_days, "seq": self.seq,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "counts": {"rows": len(self.counts), "data": _pack(self.counts)},
            "columns": list(COLUMNS), "days": [d.isoformat() for d in self.days],
            "features": _pack(self.features), "probability": _pack(self.probability),
        }
        packed = zlib.compress(json.dumps(body, separators=(",", ":")).encode("utf-8"), 1)
        return f"{FORMAT}\n{hashlib.sha256(packed).hexdigest()}\n".encode("ascii") + packed

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> EdgeState:
        """Parse and check a state file's bytes; StateError names the file and what is wrong."""
        head, _, rest = data.partition(b"\n")
        if head.decode("ascii", "replace") != FORMAT:
            raise StateError(f"{where}: not a {FORMAT} file (first line {head[:40]!r})")
        digest, _, packed = rest.partition(b"\n")
        if hashlib.sha256(packed).hexdigest().encode("ascii") != digest:
            raise StateError(f"{where}: checksum mismatch: the file is truncated or corrupted; refusing to "
                             "reset it (restore a backup or run `mindbridge edge init` deliberately)")
        try:
            body = json.loads(zlib.decompress(packed))
            if body["columns"] != list(COLUMNS):
                raise StateError(f"{where}: feature columns differ from this runtime's; re-initialise the state")
            rows, days = int(body["counts"]["rows"]), [dt.date.fromisoformat(d) for d in body["days"]]
            return cls(
                subject=body["subject"], device=body["device"], tz=body["tz"], source=body["source"],
                model_id=body["model"]["id"], model_version=body["model"]["version"],
                model_sha256=body["model"]["sha256"], signers=tuple(body["signers"]),
                window_days=int(body["window_days"]), seq=int(body["seq"]),
                last_day=dt.date.fromisoformat(body["last_day"]) if body["last_day"] else None,
                first_day=dt.date.fromisoformat(body["first_day"]) if body["first_day"] else None,
                counts=_unpack(body["counts"]["data"], (rows, PER_DAY), f"{where}: counts"), days=days,
                features=_unpack(body["features"], (len(days), len(COLUMNS)), f"{where}: features"),
                probability=_unpack(body["probability"], (len(days),), f"{where}: probability"))
        except StateError:
            raise
        except (zlib.error, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{where}: damaged state body ({type(exc).__name__}: {exc})") from exc


def save_state(state: EdgeState, path: Path) -> None:
    """Write the state atomically: a temporary file in the same folder, fsync, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(state.to_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_state(path: Path) -> EdgeState:
    """Read a state file; StateError when it is missing, damaged or of another version."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise StateError(f"{path}: no edge state; create one with `mindbridge edge init`") from exc
    return EdgeState.from_bytes(data, str(path))
