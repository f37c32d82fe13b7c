"""The intake's cached view of the registry: each patient's verified device list and consent book.

Opening an envelope asks the registry two questions (was the device the patient's at that time? does
a valid, unrevoked grant cover what the summary discloses?); reading and re-verifying the patient's
tokens from the database for every envelope costs more than the cryptography. The answers are cached
per patient and tagged with the registry version (`hub_state`) the writer last saw. Every registry change
bumps that version in its own transaction, and the writer reads it under its lock for each batch: when it
moved, the cache is cleared and the batch's envelopes are checked again against fresh entries before
anything commits. So a revocation committed before a batch applies to every envelope in it, in every
process, and an envelope accepted before a revocation committed was accepted while the grant was valid.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from ..privacy.consent import ConsentBook, Grant, Scope
from ..privacy.errors import UnknownSigner
from ..privacy.rotation import DeviceList
from .consent_registry import ConsentRegistry, device_list_of


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
            found, generation = self._entries.get(patient), self._generation
        if found is not None:
            return found
        with self.sessions() as session:
            try:
                devices: DeviceList | UnknownSigner = device_list_of(session, patient)
            except UnknownSigner as exc:
                devices = exc
            entry = _Entry(devices, ConsentRegistry(session, self.clinic).book(patient))
        with self._lock:
            if generation == self._generation:  # not cleared while loading: the entry is at least that new
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

    def observe(self, version: int) -> bool:
        """The writer saw the registry at `version`; clear everything if it moved. True if it moved."""
        with self._lock:
            if version == self.version:
                return False
            self.version, self._entries = version, {}
            self._generation += 1
            return True
