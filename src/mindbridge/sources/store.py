"""The local series store: Parquet files per subject, kind and source, plus tables and quarantine."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..datapoints import Kind, Series
from .quarantine import Rejected, append_jsonl

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str) -> str:
    return _SAFE.sub("_", text).strip("_") or "unnamed"


class Store:
    """A folder of Parquet files: `series/<kind>/<subject>/<source>.parquet` and `tables/<name>.parquet`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def quarantine_path(self) -> Path:
        """Where refused records are appended (JSON lines)."""
        return self.root / "quarantine.jsonl"

    def write_series(self, series: Series) -> Path:
        """Write one series, replacing an earlier copy of the same subject, kind and source."""
        path = self.root / "series" / series.kind.value / _slug(series.subject) / f"{_slug(series.source)}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(series.to_frame(), preserve_index=False)
        meta = {"subject": series.subject, "kind": series.kind.value, "source": series.source,
                "tz": series.tz, "unit": series.unit, "meta": json.dumps(dict(series.meta), default=str)}
        table = table.replace_schema_metadata({f"mindbridge.{k}": v for k, v in meta.items()})
        pq.write_table(table, path)
        return path

    def series(self, *, subject: str | None = None, kind: Kind | None = None) -> Iterator[Series]:
        """Read stored series back, optionally only one subject or kind."""
        base = self.root / "series"
        pattern = f"{kind.value if kind else '*'}/{_slug(subject) if subject else '*'}/*.parquet"
        for path in sorted(base.glob(pattern)):
            table = pq.read_table(path)
            md = {k.decode().removeprefix("mindbridge."): v.decode()
                  for k, v in (table.schema.metadata or {}).items() if k.startswith(b"mindbridge.")}
            yield Series.from_frame(table.to_pandas(), subject=md["subject"], kind=Kind(md["kind"]),
                                    source=md["source"], tz=md["tz"], meta=json.loads(md.get("meta", "{}")))

    def write_table(self, name: str, frame: pd.DataFrame, key: list[str], part: str) -> Path:
        """Write rows of a named table from one source (`part`, e.g. the file they came from).

        Each source keeps its own Parquet file in the table's folder, so ingesting many files appends
        instead of rewriting the table; reading merges the parts, later rows replacing earlier ones
        with the same key.
        """
        folder = self.root / "tables" / _slug(name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_slug(part)}.parquet"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                      b"mindbridge.key": ",".join(key).encode()}), path)
        return path

    def table(self, name: str) -> pd.DataFrame:
        """Read a named table: its parts merged in the order they were written."""
        parts = sorted((self.root / "tables" / _slug(name)).glob("*.parquet"), key=lambda p: p.stat().st_mtime_ns)
        if not parts:
            raise FileNotFoundError(f"no table {name!r} in {self.root}")
        tables = [pq.read_table(p) for p in parts]
        key = [k for k in (tables[-1].schema.metadata or {}).get(b"mindbridge.key", b"").decode().split(",") if k]
        frame = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
        return frame.drop_duplicates(subset=key or None, keep="last").reset_index(drop=True)

    def quarantine(self, records: list[Rejected]) -> int:
        """Append refused records to the quarantine file."""
        return append_jsonl(self.quarantine_path, records)
