"""Who a patient is, for a clinician: the linked EHR chart's name, MRN and birth date, else the label set at
enrolment, else a shortened DID (the DID itself is a detail, never the headline).

The chart is read through the EHR connection's SMART client (`Patient/<linked id>`) and cached in
`ehr_charts`; it is read again when older than `REFRESH`, and a failed read keeps the last one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import PatientRow
from .ehr_tables import EhrChartRow, EhrLinkRow

__all__ = ["REFRESH", "Person", "chart_fields", "people", "refresh"]
REFRESH = dt.timedelta(hours=12)
log = logging.getLogger(__name__)


class ChartReader(Protocol):
    """Reads one FHIR resource by reference (`fhir.client.EhrClient` does)."""

    def read(self, ref: str) -> dict[str, Any]:
        """The resource at `ref`, e.g. `Patient/123`."""


@dataclass(frozen=True)
class Person:
    """A patient as the inbox names them, and where the name came from."""

    did: str
    name: str
    mrn: str = ""
    birth_date: str = ""
    source: Literal["ehr", "label", "did"] = "did"

    @property
    def short_did(self) -> str:
        """The DID cut to its start and end, for a detail line."""
        return f"{self.did[:14]}…{self.did[-6:]}" if len(self.did) > 24 else self.did


def chart_fields(patient: dict[str, Any]) -> tuple[str, str, str]:
    """(name, MRN, birth date) of a FHIR R4 Patient: its official name (else the first), its identifier typed MR."""
    names = patient.get("name") or [{}]
    name = next((n for n in names if n.get("use") == "official"), names[0])
    text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
    mrn = next((i.get("value", "") for i in patient.get("identifier", [])
                if any(c.get("code") == "MR" for c in (i.get("type") or {}).get("coding", []))), "")
    return text[:200], str(mrn)[:64], str(patient.get("birthDate", ""))[:10]


def people(session: Session, patients: Sequence[str]) -> dict[str, Person]:
    """Each patient's name for the inbox: the cached EHR chart's, else the enrolment label, else the DID."""
    labels = dict(session.execute(select(PatientRow.did, PatientRow.label).where(PatientRow.did.in_(patients))).all())
    charts = {c.patient: c for c in session.scalars(select(EhrChartRow).where(EhrChartRow.patient.in_(patients)))}
    out = {}
    for did in patients:
        chart, label = charts.get(did), labels.get(did) or ""
        if chart is not None and chart.name:
            out[did] = Person(did, chart.name, chart.mrn, chart.birth_date, "ehr")
        else:
            out[did] = Person(did, label, source="label") if label else Person(did, Person(did, "").short_did)
    return out


def refresh(session: Session, reader: ChartReader | None, patients: Sequence[str], now: dt.datetime) -> int:
    """Read the linked charts of these patients not read within `REFRESH`; how many were read (not committed)."""
    if reader is None:
        return 0
    links = dict(session.execute(select(EhrLinkRow.patient, EhrLinkRow.fhir_id)
                                 .where(EhrLinkRow.patient.in_(patients))).all())
    fresh = set(session.scalars(select(EhrChartRow.patient).where(EhrChartRow.patient.in_(list(links)),
                                                                  EhrChartRow.fetched_at > now - REFRESH)))
    read = 0
    for did, fhir_id in links.items():
        if did in fresh:
            continue
        try:
            name, mrn, born = chart_fields(reader.read(f"Patient/{fhir_id}"))
        except Exception as exc:  # the EHR is down or the chart is gone: keep what was read before
            log.warning("could not read the EHR chart of a linked patient: %s", type(exc).__name__)
            continue
        session.merge(EhrChartRow(patient=did, name=name, mrn=mrn, birth_date=born, fetched_at=now))
        read += 1
    return read
