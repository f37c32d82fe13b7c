"""The clinic's registry of patients, their signed device lists, consent grants and revocation lists.

Everything here is signed by the patient and verified on arrival; the database keeps the signed tokens
so every later decision re-checks them with `mindbridge.privacy` (validity, revocation and scope are
checked at each use, so a revocation takes effect at once). Verifying a token is a pure function of its
text, so the verified form of each token is cached in memory. Every change here bumps the registry
version (`hub_state`) and records which patient it concerned, in the same transaction: that is how the
intake's cached view of the registry, in every process, learns which of its entries went stale.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..privacy.consent import (
    ConsentBook,
    Grant,
    Purpose,
    Scope,
    StatusList,
    read_grant,
    read_status_list,
    to_fhir_consent,
)
from ..privacy.errors import ConsentRefused, ConsentWrongGrantee, MalformedInput, UnknownSigner
from ..privacy.rotation import DeviceList, verify_device_list
from .db import ConsentRow, PatientRow, RegistryChangeRow, StatusListRow, advance_registry

_device_list = lru_cache(maxsize=4096)(verify_device_list)
_status_list = lru_cache(maxsize=4096)(read_status_list)
_grant = lru_cache(maxsize=4096)(read_grant)


class NotEnrolled(LookupError):
    """The patient is not enrolled at this clinic."""


def bump_version(session: Session, patient: str) -> None:
    """Mark a patient's registry entry changed (in the caller's transaction): cached views of it are rechecked."""
    session.add(RegistryChangeRow(version=advance_registry(session, 1), patient=patient))


def enrol(session: Session, device_list: str, now: dt.datetime, label: str = "") -> DeviceList:
    """Enrol a patient with their signed device list and the label the inbox shows until a chart is linked (a
    patient already enrolled is refused)."""
    devices = _device_list(device_list)
    if session.get(PatientRow, devices.patient) is not None:
        raise MalformedInput(f"patient {devices.patient} is already enrolled; send a newer device list instead")
    session.add(PatientRow(did=devices.patient, enrolled_at=now, device_list=device_list,
                           device_list_version=devices.version, active_rules=[], label=label))
    bump_version(session, devices.patient)
    return devices


def update_devices(session: Session, token: str) -> DeviceList:
    """Replace an enrolled patient's device list with a newer signed version."""
    new = _device_list(token)
    row = session.get(PatientRow, new.patient)
    if row is None:
        raise NotEnrolled(f"patient {new.patient} is not enrolled")
    if new.version <= row.device_list_version:
        raise MalformedInput(f"device list version {new.version} of {new.patient} is not newer than "
                             f"{row.device_list_version}")
    row.device_list, row.device_list_version = token, new.version
    bump_version(session, new.patient)
    return new


def device_list_of(session: Session, patient: str) -> DeviceList:
    """The verified device list of an enrolled patient; UnknownSigner if the patient is not enrolled."""
    token = session.scalar(select(PatientRow.device_list).where(PatientRow.did == patient))
    if token is None:
        raise UnknownSigner(f"patient {patient} is not enrolled at this clinic")
    return _device_list(token)


class ConsentRegistry:
    """A clinic's held grants and status lists; callable as the envelope opener's consent policy."""

    def __init__(self, session: Session, clinic: str, purpose: Purpose = "treatment") -> None:
        self.session, self.clinic, self.purpose = session, clinic, purpose

    def add_grant(self, token: str, now: dt.datetime) -> Grant:
        """Keep a verified grant addressed to this clinic, about an enrolled patient (idempotent)."""
        grant = _grant(token)
        if grant.grantee != self.clinic:
            raise ConsentWrongGrantee(f"consent {grant.id} is for {grant.grantee}, not for {self.clinic}")
        if self.session.get(PatientRow, grant.patient) is None:
            raise NotEnrolled(f"patient {grant.patient} is not enrolled")
        if self.session.get(ConsentRow, grant.id) is None:
            self.session.add(ConsentRow(id=grant.id, patient=grant.patient, purpose=grant.purpose,
                                        status_list=grant.status_list, expires=grant.expires, token=token,
                                        received_at=now))
            bump_version(self.session, grant.patient)
        return grant

    def update_status(self, token: str) -> StatusList:
        """Keep a verified status list unless an equally new or newer one of the same id is held."""
        new = _status_list(token)
        if new.issued is None:
            raise MalformedInput(f"status list {new.id} has no issue time")
        row = self.session.get(StatusListRow, new.id)
        if row is None:
            self.session.add(StatusListRow(id=new.id, issuer=new.issuer, issued=new.issued, token=token))
        elif row.issuer != new.issuer:
            raise MalformedInput(f"status list {new.id} belongs to {row.issuer}, not to {new.issuer}")
        elif new.issued > row.issued:
            row.issued, row.token = new.issued, token
        else:
            return new
        bump_version(self.session, new.issuer)
        return new

    def book(self, patient: str) -> ConsentBook:
        """The patient's held grants and status lists as a privacy `ConsentBook`."""
        book = ConsentBook(self.clinic, self.purpose)
        rows = self.session.scalars(select(ConsentRow).where(ConsentRow.patient == patient,
                                                              ConsentRow.purpose == self.purpose)).all()
        book.grants[patient] = [_grant(r.token) for r in rows]
        lists = self.session.scalars(select(StatusListRow.token).where(
            StatusListRow.id.in_({r.status_list for r in rows})))
        book.status = {s.id: s for s in map(_status_list, lists)}
        return book

    def __call__(self, patient: str, needs: Scope, now: dt.datetime) -> Grant:
        """The first held grant of `patient` valid now for `needs`; ConsentRefused otherwise."""
        return self.book(patient)(patient, needs, now)

    def allows(self, patient: str, now: dt.datetime) -> bool:
        """True if some grant of `patient` for this clinic and purpose is valid and unrevoked now."""
        try:
            self(patient, Scope(), now)
        except ConsentRefused:
            return False
        return True

    def as_fhir(self, patient: str, now: dt.datetime) -> list[dict[str, object]]:
        """The patient's grants as FHIR R4 Consent resources (inactive once revoked or expired)."""
        book = self.book(patient)
        out = []
        for grant in book.grants[patient]:
            status = book.status.get(grant.status_list)
            revoked = status is None or status.revoked(grant.status_index)
            out.append(to_fhir_consent(grant, revoked, now))
        return out
