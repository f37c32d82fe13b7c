"""One patient's persisted edge state: a small, versioned, checksummed file; a crash mid-save leaves the day before.

What it holds, all bounded: the last `window_days` days of minute counts (a ring buffer, the raw input
of the trailing-window biomarkers), the last `HISTORY_DAYS` days of daily features and model
probabilities (the personal baseline's input), each key biomarker's CUSUM sums and newest signalled
shift, the last processed day, the device's envelope sequence number, and the model and signers the
device was set up with.

File layout (`mindbridge-edge-state/3`): a slot file (`edge.slots`) whose two slots hold the two newest
generations, each a payload of one line of JSON (identity, model, days, array shapes) followed by the arrays
as little-endian float64 bytes in the order counts, features, probability. A day's save overwrites the older
slot in place, so it costs one write and one `fdatasync`; a torn write falls back to the generation before.
Uncompressed on purpose: compression cost more CPU than all the day's biomarkers but one family; a payload
is about 13 KB plus 11.5 KB per window day (93 KB at 7 once the history is full), and the file one page
of superblock and two slots of `capacity()` rounded up to 4 KiB (196 KiB at 7).
Files of the earlier layouts are still read: `/2` (format line, SHA-256, one payload) and `/1`
(zlib-compressed JSON with base64 arrays, the CUSUM starting afresh); the next save writes `/3`. A file
that is truncated, altered, of another version or holding impossible values is refused with `StateError`,
never silently reset.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..biomarkers.trailing import COLUMNS, PER_DAY, TRAILING_DAYS
from ..models.robust import Cusum, Shift
from .slots import SlotError, read_newest, slot_size, write_generation

FORMAT = "mindbridge-edge-state/3"
FORMAT_V2 = "mindbridge-edge-state/2"
FORMAT_V1 = "mindbridge-edge-state/1"
HISTORY_DAYS = 29  # the day itself and the 28 days of its personal baseline
HEADER_ROOM = 6144  # the JSON header line was 2.3 KB with one signer and 16 days; a longer one gets larger slots
DEFAULT_WINDOW_DAYS = TRAILING_DAYS  # the window the model's training features were computed over


# what parsing a checksummed but impossible header raises (a crafted file or a buggy writer)
_DAMAGE = (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError)


class StateError(ValueError):
    """The state file cannot be trusted or does not fit this runtime."""


def _array(raw: bytes | str, shape: tuple[int, ...], where: str) -> np.ndarray:
    """float64 values of `shape` from raw little-endian bytes (or, in `/1` files, their base64 text)."""
    if isinstance(raw, str):
        raw = base64.b64decode(raw.encode("ascii"), validate=True)
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
    cusums: dict[str, Cusum] = field(default_factory=dict)
    shifts: dict[str, Shift] = field(default_factory=dict)
    generation: int = 0  # the number of the file's newest generation (0: never saved)

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
        self.probability = np.concatenate([self.probability, [probability]])[-HISTORY_DAYS:]
        self.days = [*self.days, day][-HISTORY_DAYS:]

    def payload(self) -> bytes:
        """One generation's bytes: a JSON header line, then the arrays' raw little-endian float64 bytes."""
        header = {
            "subject": self.subject, "device": self.device, "tz": self.tz, "source": self.source,
            "model": {"id": self.model_id, "version": self.model_version, "sha256": self.model_sha256},
            "signers": list(self.signers), "window_days": self.window_days, "seq": self.seq,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "counts": {"rows": len(self.counts)}, "columns": list(COLUMNS), "days": [d.isoformat() for d in self.days],
            "cusum": {name: [c.up, c.down, c.up_since, c.down_since] for name, c in self.cusums.items()},
            "shifts": {name: [s.direction, s.onset.isoformat(), s.signalled.isoformat()]
                       for name, s in self.shifts.items()},
        }
        return b"".join([json.dumps(header, separators=(",", ":")).encode("utf-8"), b"\n",
                         *(np.ascontiguousarray(a, dtype="<f8").tobytes()
                           for a in (self.counts, self.features, self.probability))])

    def capacity(self) -> int:
        """Bytes a payload of this state can grow to once its window and history are full (header room included)."""
        return HEADER_ROOM + 8 * (self.window_days * PER_DAY + HISTORY_DAYS * (len(COLUMNS) + 1))

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> EdgeState:
        """Parse and check a state file's bytes (any layout); StateError names the file and what is wrong."""
        if slot_size(data, FORMAT) is not None:
            try:
                newest = read_newest(data, FORMAT, where)
            except SlotError as exc:
                raise StateError(f"{exc}; refusing to reset it (restore a backup or run `mindbridge edge init` "
                                 "deliberately)") from exc
            state = cls.from_payload(newest.payload, where)
            state.generation = newest.number
            return state
        head, _, rest = data.partition(b"\n")
        version = head.decode("ascii", "replace")
        if version not in (FORMAT_V2, FORMAT_V1):
            raise StateError(f"{where}: not a {FORMAT} file (first line {head[:40]!r})")
        digest, _, body = rest.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode("ascii") != digest:
            raise StateError(f"{where}: checksum mismatch: the file is truncated or corrupted; refusing to "
                             "reset it (restore a backup or run `mindbridge edge init` deliberately)")
        if version == FORMAT_V2:
            return cls.from_payload(body, where)
        try:
            header = json.loads(zlib.decompress(body))
            return cls._of(header, [header["counts"]["data"], header["features"], header["probability"]], where)
        except StateError:
            raise
        except (zlib.error, *_DAMAGE) as exc:
            raise StateError(f"{where}: damaged state body ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def from_payload(cls, payload: bytes, where: str) -> EdgeState:
        """The state one generation's bytes describe, its values checked."""
        try:
            text, _, raw = payload.partition(b"\n")
            header = json.loads(text)
            return cls._of(header, _split(raw, len(header["days"]), int(header["counts"]["rows"]), where), where)
        except StateError:
            raise
        except _DAMAGE as exc:
            raise StateError(f"{where}: damaged state body ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def _of(cls, header: dict[str, Any], arrays: list[bytes | str], where: str) -> EdgeState:
        if header["columns"] != list(COLUMNS):
            raise StateError(f"{where}: feature columns differ from this runtime's; re-initialise the state")
        rows, days = int(header["counts"]["rows"]), [dt.date.fromisoformat(d) for d in header["days"]]
        if any(b <= a for a, b in itertools.pairwise(days)):
            raise StateError(f"{where}: history days are not in increasing order")
        counts, features, probability = arrays
        return cls(
            subject=header["subject"], device=header["device"], tz=header["tz"], source=header["source"],
            model_id=header["model"]["id"], model_version=header["model"]["version"],
            model_sha256=header["model"]["sha256"], signers=tuple(header["signers"]),
            window_days=int(header["window_days"]), seq=int(header["seq"]),
            last_day=dt.date.fromisoformat(header["last_day"]) if header["last_day"] else None,
            first_day=dt.date.fromisoformat(header["first_day"]) if header["first_day"] else None,
            counts=_array(counts, (rows, PER_DAY), f"{where}: counts"), days=days,
            features=_array(features, (len(days), len(COLUMNS)), f"{where}: features"),
            probability=_array(probability, (len(days),), f"{where}: probability"),
            cusums={name: _cusum(values, f"{where}: cusum.{name}") for name, values in header.get("cusum", {}).items()},
            shifts={name: _shift(values, f"{where}: shifts.{name}")
                    for name, values in header.get("shifts", {}).items()})


def _cusum(values: list[float], where: str) -> Cusum:
    """A stored CUSUM, refused unless both sums are finite and non-negative with a start day when positive."""
    up, down, up_since, down_since = values
    for total, since in ((up, up_since), (down, down_since)):
        if not (np.isfinite(total) and total >= 0 and (total == 0 or since >= 1)):
            raise StateError(f"{where}: invalid sums {values}")
    return Cusum(float(up), float(down), int(up_since), int(down_since))


def _shift(values: list[object], where: str) -> Shift:
    """A stored shift, refused unless its direction is ±1 and its onset is not after its signal."""
    direction, onset, signalled = values
    shift = Shift(int(str(direction)), dt.date.fromisoformat(str(onset)), dt.date.fromisoformat(str(signalled)))
    if shift.direction not in (1, -1) or shift.onset > shift.signalled:
        raise StateError(f"{where}: invalid shift {values}")
    return shift


def _split(raw: bytes, days: int, rows: int, where: str) -> list[bytes | str]:
    """The `/2` body's raw bytes cut into counts, features and probability."""
    sizes = [8 * rows * PER_DAY, 8 * days * len(COLUMNS), 8 * days]
    if len(raw) != sum(sizes):
        raise StateError(f"{where}: array bytes are {len(raw)}, expected {sum(sizes)}")
    bounds = itertools.accumulate(sizes, initial=0)
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


def save_state(state: EdgeState, path: Path) -> None:
    """Write the state as the file's next generation (`edge.slots`: in place into the older slot, or a new file)."""
    number = state.generation + 1
    try:
        write_generation(path, FORMAT, number, state.payload(), state.capacity())
    except SlotError as exc:
        raise StateError(str(exc)) from exc
    state.generation = number  # only once it is on disk: a retry after an OSError writes the same slot again


def load_state(path: Path) -> EdgeState:
    """Read a state file; StateError when it is missing, damaged or of another version."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise StateError(f"{path}: no edge state; create one with `mindbridge edge init`") from exc
    return EdgeState.from_bytes(data, str(path))
