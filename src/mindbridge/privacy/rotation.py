"""Key rotation: a patient's signed list of device keys, each with the time it was added and retired.

The list is a JWT (`typ` "device-list+jwt") signed by the patient's did:key, with a version number that
only grows. A device may sign envelopes created in [added, retired); an envelope it signed after its
retirement is refused with RetiredKey, and one from a device never listed with UnknownSigner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from .did import check_did, ed25519_of_did_key
from .errors import MalformedInput, RetiredKey, UnknownSigner
from .keys import Identity
from .tokens import sign, unverified, verify

TYP = "device-list+jwt"


@dataclass(frozen=True)
class Device:
    """One device key on a patient's list."""

    did: str
    added: int
    retired: int | None = None

    def active_at(self, when: int) -> bool:
        """True if the key could sign at `when` (seconds since the epoch)."""
        return self.added <= when and (self.retired is None or when < self.retired)


@dataclass(frozen=True)
class DeviceList:
    """A patient's devices, as signed by the patient."""

    patient: str
    version: int
    devices: tuple[Device, ...] = ()

    def enrol(self, device: str, at: dt.datetime) -> DeviceList:
        """A new version with `device` added at `at`."""
        check_did(device)
        if any(d.did == device for d in self.devices):
            raise MalformedInput(f"device {device} is already on the list")
        return replace(self, version=self.version + 1, devices=(*self.devices, Device(device, _epoch(at))))

    def retire(self, device: str, at: dt.datetime) -> DeviceList:
        """A new version with `device` retired at `at`."""
        if not any(d.did == device and d.retired is None for d in self.devices):
            raise MalformedInput(f"device {device} is not an active device of {self.patient}")
        devices = tuple(replace(d, retired=_epoch(at)) if d.did == device else d for d in self.devices)
        return replace(self, version=self.version + 1, devices=devices)

    def authorise(self, device: str, created: dt.datetime) -> None:
        """Raise unless `device` was an active key of this patient at `created`."""
        when = _epoch(created)
        for d in self.devices:
            if d.did == device:
                if d.active_at(when):
                    return
                if d.retired is not None and when >= d.retired:
                    raise RetiredKey(f"device {device} was retired before the envelope was created")
                raise UnknownSigner(f"device {device} was not yet enrolled when the envelope was created")
        raise UnknownSigner(f"device {device} is not on the device list of {self.patient}")

    def sign(self, patient: Identity) -> str:
        """The list as a JWT signed by the patient."""
        if patient.did != self.patient:
            raise MalformedInput("only the patient can sign their device list")
        claims: dict[str, object] = {
            "iss": self.patient, "sub": self.patient, "version": self.version,
            "devices": [{"did": d.did, "added": d.added, "retired": d.retired} for d in self.devices]}
        return sign(claims, patient.signing, TYP, self.patient)


def verify_device_list(token: str, patient: str | None = None) -> DeviceList:
    """Verify a device-list JWT against its issuer's did:key (and, if given, check it is `patient`'s)."""
    _, claims = unverified(token, TYP)
    issuer = check_did(claims.get("iss"))
    if patient is not None and issuer != patient:
        raise UnknownSigner(f"device list is of {issuer}, not of {patient}")
    claims = verify(token, ed25519_of_did_key(issuer), TYP)
    try:
        devices = tuple(Device(check_did(d["did"]), int(d["added"]), None if d["retired"] is None
                               else int(d["retired"])) for d in claims["devices"])  # type: ignore[attr-defined]
        return DeviceList(issuer, int(claims["version"]), devices)  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedInput(f"device list: malformed field ({exc})") from exc


def _epoch(at: dt.datetime) -> int:
    if at.tzinfo is None:
        raise MalformedInput("times must be timezone-aware")
    return int(at.timestamp())


class Roster:
    """The clinic's view of every patient's newest verified device list (older versions are refused)."""

    def __init__(self) -> None:
        self.lists: dict[str, DeviceList] = {}

    def update(self, token: str) -> DeviceList:
        """Verify a device-list JWT and keep it if it is newer than the one held."""
        new = verify_device_list(token)
        held = self.lists.get(new.patient)
        if held is not None and new.version <= held.version:
            raise MalformedInput(f"device list version {new.version} of {new.patient} is not newer than "
                                 f"{held.version}")
        self.lists[new.patient] = new
        return new

    def authorise(self, patient: str, device: str, created: dt.datetime) -> None:
        """Raise unless `device` was an active key of `patient` at `created`."""
        if patient not in self.lists:
            raise UnknownSigner(f"no device list is known for patient {patient}")
        self.lists[patient].authorise(device, created)
