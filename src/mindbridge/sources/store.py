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

    def write_table(self, name: str, frame: pd.DataFrame, key: list[str]) -> Path:
        """Merge rows into a named table; rows with the same key replace earlier ones."""
        path = self.root / "tables" / f"{_slug(name)}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            frame = pd.concat([pd.read_parquet(path), frame], ignore_index=True)
            frame = frame.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
        frame.to_parquet(path, index=False)
        return path

    def table(self, name: str) -> pd.DataFrame:
        """Read a named table."""
        return pd.read_parquet(self.root / "tables" / f"{_slug(name)}.parquet")

    def quarantine(self, records: list[Rejected]) -> int:
        """Append refused records to the quarantine file."""
        return append_jsonl(self.quarantine_path, records)
