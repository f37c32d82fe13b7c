"""Open mHealth and IEEE 1752.1 JSON: bodies or data points (header + body), alone, in an array, or as JSON Lines.

Each document is validated offline against its schema: the one the header's `schema_id` names, or, for
a bare body, the schema its fields point to, trying every bundled version (IEEE 1752.1 first, then Open
mHealth newest first). Invalid documents are quarantined with the JSON pointer of the offending field,
the validator's message and the document's raw text. Valid bodies become canonical rows, grouped into
one series per (subject, kind, source) and tidied the standard way (bounds, duplicates, overlaps).

Subject: the header's `user_id`, else `ctx.subject`, else the file name. Source: the header's
`acquisition_provenance.source_name`, with summaries labelled apart (see `omh_mapping`). Time zone:
`ctx.tz`, else the UTC offset most documents of the series were written with.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datapoints import SPECS, Kind
from .base import NotReadable, ReadContext, ReadResult, head_text, read_utf8, subject_from_name
from .omh_mapping import IDENTIFYING, MAPPERS, Row, Unmappable, infer_name
from .omh_schemas import BODIES, Issue, SchemaCatalog, SchemaId, catalog
from .quarantine import Rejected
from .tidy import tidy
from .units import UnitError

UNKNOWN_SOURCE = "unknown source"
OMH_ENVELOPE = SchemaId("omh", "data-point", "1.0")
IEEE_ENVELOPE = SchemaId("ieee", "data-point", "1.0")
_MARKERS = re.compile(r'"(effective_time_frame|schema_id|total_sleep_time|' + "|".join(k for k, _ in IDENTIFYING)
                      + r')"\s*:')
_SPACE = re.compile(r"\s*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Document:
    """One JSON document of the file: where it is (array index or line) and its raw text."""

    raw: str
    value: Any
    pointer: str = ""
    line: int | None = None

    def where(self, pointer: str = "") -> str:
        """A location inside this document: the JSON pointer from the file's root, after the line for JSON Lines."""
        if self.line is not None:
            return f"line {self.line} {pointer}".rstrip()
        return f"{self.pointer}{pointer}" or "(root)"


@dataclass
class _Group:
    """The rows of one future series, with each row's document for quarantine messages."""

    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    offsets: list[str] = field(default_factory=list)
    values: list[Mapping[str, float | str]] = field(default_factory=list)
    docs: list[Document] = field(default_factory=list)

    def where(self, i: int) -> str:
        """Where row `i` came from."""
        return self.docs[i].where()

    def raw(self, i: int) -> str:
        """The raw text of row `i`'s document."""
        return self.docs[i].raw


def _decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise NotReadable(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def _skip(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _array(text: str, pos: int) -> Iterator[Document]:
    i, index = _skip(text, pos + 1), 0
    if text.startswith("]", i):
        return
    while True:
        value, end = _decode(text, i)
        yield Document(text[i:end], value, pointer=f"/{index}")
        i = _skip(text, end)
        if text.startswith(",", i):
            i, index = _skip(text, i + 1), index + 1
        elif text.startswith("]", i):
            break
        else:
            line = text.count("\n", 0, i) + 1
            raise NotReadable(f"invalid JSON at line {line}: expected ',' or ']' after array element {index}")
    if _skip(text, i + 1) != len(text):
        raise NotReadable("invalid JSON: extra data after the top-level array")


def _lines(text: str) -> Iterator[Document | tuple[int, str, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield Document(line, json.loads(line), line=number)
            except json.JSONDecodeError as exc:
                yield number, line, exc.msg


def documents(text: str) -> Iterator[Document | tuple[int, str, str]]:
    """The file's documents; for JSON Lines, an unparseable line comes as (line number, text, error)."""
    pos = _skip(text, 0)
    if text.startswith("[", pos):
        yield from _array(text, pos)
        return
    try:
        value, end = _DECODER.raw_decode(text, pos)
        single = _skip(text, end) == len(text)
    except json.JSONDecodeError as exc:
        if text.strip().count("\n") == 0:
            raise NotReadable(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        single = False
    if single:
        yield Document(text[pos:end].strip(), value)
    else:
        yield from _lines(text)


class OpenMHealthReader:
    """Open mHealth / IEEE 1752.1 data points and bodies in JSON or JSON Lines."""

    name = "openmhealth"
    description = "Open mHealth / IEEE 1752.1 JSON (bodies or data points; single, array or JSON Lines)"

    def sniff(self, head: bytes, path: Path) -> bool:
        """JSON whose first bytes hold a field of an Open mHealth body or header."""
        text = head_text(head).lstrip()
        return text[:1] in ("{", "[") and _MARKERS.search(text) is not None

    def read(self, path: Path, ctx: ReadContext) -> ReadResult:
        """Validate every document, map the valid ones to series, quarantine the rest."""
        data, note = read_utf8(path)
        result = ReadResult(path, self.name, notes=[note] if note else [])
        schemas = catalog()
        groups: dict[tuple[str, Kind, str], _Group] = {}
        fallback_subject = ctx.subject or subject_from_name(path)
        for doc in documents(data.decode("utf-8").lstrip("\ufeff")):
            if isinstance(doc, tuple):
                number, raw, why = doc
                result.rejected.append(Rejected(str(path), f"line {number}", f"invalid JSON: {why}", raw))
                result.rows_in += 1
                continue
            placed = _place(doc, schemas, str(path), fallback_subject)
            if isinstance(placed, Rejected):
                result.rejected.append(placed)
                result.rows_in += 1
                continue
            key, row = placed
            group = groups.setdefault(key, _Group())
            group.start.append(row.start)
            group.end.append(row.start if row.end is None else row.end)
            group.offsets.append(row.offset)
            group.values.append(row.values)
            group.docs.append(doc)
        for (subject, kind, source), group in groups.items():
            tz = ctx.tz or _zone(group.offsets, f"{subject} {kind.value} {source}", result.notes)
            series, stats = tidy(
                file=str(path), subject=subject, kind=kind, source=source, tz=tz,
                time=np.array(group.start, dtype="datetime64[ns]"),
                end=np.array(group.end, dtype="datetime64[ns]") if SPECS[kind].interval else None,
                columns=_columns(kind, group.values),
                where=group.where, raw=group.raw)
            result.add(series, stats)
        return result


def _place(doc: Document, schemas: SchemaCatalog, file: str,
           fallback_subject: str) -> tuple[tuple[str, Kind, str], Row] | Rejected:
    """Validate one document and map it to (series key, row), or say why it is refused."""
    value = doc.value

    def refuse(reason: str, pointer: str = "") -> Rejected:
        return Rejected(file, doc.where(pointer), reason, doc.raw)

    if not isinstance(value, dict):
        return refuse("not a JSON object: an Open mHealth document is a body or a data point")
    header = value.get("header")
    body, body_at, subject, source = value, "", fallback_subject, UNKNOWN_SOURCE
    if header is not None:
        # Open mHealth headers carry `id` and `creation_date_time`; IEEE ones `uuid` and `source_creation_date_time`.
        omh_header = not isinstance(header, dict) or "id" in header or "creation_date_time" in header
        envelope = OMH_ENVELOPE if omh_header else IEEE_ENVELOPE
        issue = schemas.check(value, envelope)
        if issue is not None:
            return refuse(f"does not conform to {envelope}: {issue.message}", issue.pointer)
        body, body_at = value["body"], "/body"
        subject = header.get("user_id") or fallback_subject
        source = header.get("acquisition_provenance", {}).get("source_name") or UNKNOWN_SOURCE
        sid = header["schema_id"]
        candidates = [SchemaId(sid["namespace"], sid["name"], sid["version"])]
        if not schemas.has(candidates[0]) or candidates[0].name not in BODIES:
            return refuse(f"unsupported schema {candidates[0]}: supported are {', '.join(BODIES)} "
                          f"(versions: {_versions(schemas, candidates[0].name)})", "/header/schema_id")
    else:
        name = infer_name(value)
        if name is None:
            return refuse("not a recognised Open mHealth body: it has none of the fields "
                          + ", ".join(k for k, _ in IDENTIFYING) + " or total_sleep_time")
        candidates = schemas.versions(name)
    schema, issue = _first_conforming(body, candidates, schemas)
    if issue is not None:
        return refuse(f"does not conform to {schema}: {issue.message}", body_at + issue.pointer)
    try:
        row = MAPPERS[schema.name](body)
    except (Unmappable, UnitError) as exc:
        return refuse(f"cannot map {schema}: {exc}", body_at)
    label = f"{source} ({row.label})" if row.label else source
    return (str(subject), row.kind, label), row


def _first_conforming(body: object, candidates: list[SchemaId],
                      schemas: SchemaCatalog) -> tuple[SchemaId, Issue | None]:
    """The first candidate the body conforms to, or else the candidate whose violation lies deepest."""
    found: list[tuple[SchemaId, Issue]] = []
    for schema in candidates:
        issue = schemas.check(body, schema)
        if issue is None:
            return schema, None
        found.append((schema, issue))
    return max(found, key=lambda f: f[1].pointer.count("/"))


def _versions(schemas: SchemaCatalog, name: str) -> str:
    found = schemas.versions(name) if name in BODIES else []
    return ", ".join(f"{s.namespace} {s.version}" for s in found) or "none"


def _zone(offsets: list[str], what: str, notes: list[str]) -> str:
    counts = Counter(offsets)
    zone = counts.most_common(1)[0][0]
    if len(counts) > 1:
        notes.append(f"{what}: documents use UTC offsets {', '.join(sorted(counts))}; local time uses {zone} "
                     "(give a time zone to use an IANA zone instead)")
    return zone


def _columns(kind: Kind, rows: list[Mapping[str, float | str]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, unit in SPECS[kind].columns.items():
        column = [r[name] for r in rows]
        out[name] = np.array(column, dtype=object if unit == "" else np.float64)
    return out
