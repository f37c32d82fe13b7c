"""Quarantine: every rejected record is kept with where it came from and why it was refused."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

MAX_RAW_CHARS = 2000


@dataclass(frozen=True)
class Rejected:
    """One refused record: the file, its line or JSON pointer, the reason, and the raw text."""

    file: str
    where: str
    reason: str
    raw: str

    def to_json(self) -> str:
        """One JSON line, with the raw text cut to a bounded length."""
        d = asdict(self)
        if len(self.raw) > MAX_RAW_CHARS:
            d["raw"] = self.raw[:MAX_RAW_CHARS] + f"… [{len(self.raw) - MAX_RAW_CHARS} more characters]"
        return json.dumps(d, ensure_ascii=False)


def reason_counts(records: Iterable[Rejected]) -> Counter[str]:
    """Count refused records by reason, with line-specific details cut off at the first ':'."""
    return Counter(r.reason.split(":", 1)[0] for r in records)


def append_jsonl(path: Path, records: Iterable[Rejected]) -> int:
    """Append records to a JSON-lines quarantine file; return how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(r.to_json() + "\n")
            n += 1
    return n


def read_jsonl(path: Path) -> list[Rejected]:
    """Read a quarantine file back."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [Rejected(**json.loads(line)) for line in fh if line.strip()]
