"""The intake's cached view of the registry: each patient's verified device list and consent book.

Opening an envelope asks the registry two questions (was the device the patient's at that time? does
a valid, unrevoked grant cover what the summary discloses?); reading and re-verifying the patient's
tokens from the database for every envelope costs more than the cryptography. The answers are cached
per patient. Every registry change bumps the registry version (`hub_state`) and records the patient it
concerned (`registry_changes`) in its own transaction; the writer reads the version under its lock for
each batch and, if it moved, the patients changed since: their entries are dropped, and any envelope of
theirs opened with an older answer is checked again against a fresh one before anything commits. So a
revocation committed before a batch applies to every envelope in it, in every process, and an envelope
accepted before a revocation committed was accepted while the grant was valid.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from ..privacy.consent import ConsentBook, Grant, Scope
from ..privacy.errors import UnknownSigner
from ..privacy.rotation import DeviceList
from .consent_registry import ConsentRegistry, device_list_of
from .db import HubStateRow, RegistryChangeRow


@dataclass(frozen=True)
class _Entry:
    devices: DeviceList | UnknownSigner
    book: ConsentBook


class RegistryCache:
    """Per-patient device lists and consent books, valid while the registry version stays `version`."""

    def __init__(self, sessions: sessionmaker[Session], clinic: str) -> None:
        self.sessions, self.clinic = sessions, clinic
        self.version: int | None = None  # None: no batch has read the version yet, so nothing is trusted
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def _entry(self, patient: str) -> _Entry:
        with self._lock:
            found, generation, version = self._entries.get(patient), self._generation, self.version
        if found is not None:
            return found
        with self.sessions() as session:
            if version is None:  # first use: the entries loaded from now on are at least this new
                version = session.scalar(select(HubStateRow.registry_version).where(HubStateRow.id == 1))
            try:
                devices: DeviceList | UnknownSigner = device_list_of(session, patient)
            except UnknownSigner as exc:
                devices = exc
            entry = _Entry(devices, ConsentRegistry(session, self.clinic).book(patient))
        with self._lock:
            if generation == self._generation:  # nothing was dropped while loading: keep the entry
                self.version = self.version if self.version is not None else version
                self._entries[patient] = entry
        return entry

    def authorise(self, patient: str, device: str, created: dt.datetime) -> None:
        """Raise unless `device` was an active key of `patient` at `created` (as the roster does)."""
        devices = self._entry(patient).devices
        if isinstance(devices, UnknownSigner):
            raise UnknownSigner(str(devices))
        devices.authorise(device, created)

    def consent(self, patient: str, needs: Scope, now: dt.datetime) -> Grant:
        """The first held grant of `patient` valid now for `needs`; ConsentRefused otherwise."""
        return self._entry(patient).book(patient, needs, now)

    def evict(self, patient: str) -> None:
        """Forget one patient (their next question is read from the database)."""
        with self._lock:
            self._entries.pop(patient, None)

    def observe(self, db: Connection, version: int, oldest: int) -> dict[str, int]:
        """The writer holds the registry lock at `version`: drop the entries changed since this cache last
        looked, and return, for each patient changed after `oldest`, the version of their latest change."""
        with self._lock:
            seen = self.version
        low = min(oldest, version if seen is None else seen)
        changes: dict[str, int] = {}
        if low < version:
            for v, patient in db.execute(select(RegistryChangeRow.version, RegistryChangeRow.patient)
                                         .where(RegistryChangeRow.version > low,
                                                RegistryChangeRow.version <= version)):
                changes[patient] = max(v, changes.get(patient, v))
        with self._lock:
            if seen is None or self.version is None:
                self._entries = {}
            else:
                for patient, v in changes.items():
                    if v > seen:
                        self._entries.pop(patient, None)
            self.version = version
            self._generation += 1
        return {p: v for p, v in changes.items() if v > oldest}
