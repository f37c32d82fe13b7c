"""The Nitro verifier on a real attestation document from AWS hardware (see fixtures/README.md)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import cbor2
import pytest

from mindbridge.privacy.errors import AttestationError
from mindbridge.privacy.tee import AWS_NITRO_ROOT_G1_SHA256, NitroVerifier

DOC = base64.b64decode((Path(__file__).parent / "fixtures" / "nitro-attestation-2024-09-17.b64").read_text())
PAYLOAD = cbor2.loads(cbor2.loads(DOC)[2])
STAMP = dt.datetime.fromtimestamp(PAYLOAD["timestamp"] / 1000, dt.UTC)
PCRS = {i: {PAYLOAD["pcrs"][i]} for i in (0, 1, 2, 3, 4)}


def test_real_document_verifies_at_its_time() -> None:
    got = NitroVerifier(PCRS).verify(DOC, nonce=PAYLOAD["nonce"], public_key=PAYLOAD["public_key"],
                                     now=STAMP + dt.timedelta(seconds=5))
    assert got.module_id == "i-0bbf1bfe232b8c2ce-enc0191fc27458c1d41"
    assert got.timestamp == STAMP and got.pcrs[3] == PAYLOAD["pcrs"][3]
    assert AWS_NITRO_ROOT_G1_SHA256.startswith("641a03") and AWS_NITRO_ROOT_G1_SHA256.endswith("bb5b")


@pytest.mark.parametrize(("change", "message"), [
    ({"now": STAMP + dt.timedelta(hours=1)}, "not fresh"),
    ({"nonce": b"\x00" * 20}, "nonce"),
    ({"public_key": b"other-key"}, "public_key"),
    ({"pcrs": {3: {b"\x00" * 48}}}, "PCR3"),
    ({"roots": frozenset({"00" * 32})}, "pinned root"),
])
def test_real_document_refused_when_any_binding_differs(change: dict[str, object], message: str) -> None:
    verifier = NitroVerifier(change.get("pcrs", PCRS), roots=change.get("roots",  # type: ignore[arg-type]
                                                                          frozenset({AWS_NITRO_ROOT_G1_SHA256})))
    with pytest.raises(AttestationError, match=message):
        verifier.verify(DOC, nonce=change.get("nonce", PAYLOAD["nonce"]),  # type: ignore[arg-type]
                        public_key=change.get("public_key", PAYLOAD["public_key"]),  # type: ignore[arg-type]
                        now=change.get("now", STAMP))  # type: ignore[arg-type]


def test_one_flipped_signature_bit_is_refused() -> None:
    tampered = bytearray(DOC)
    tampered[-5] ^= 0x01
    with pytest.raises(AttestationError, match="signature"):
        NitroVerifier(PCRS).verify(bytes(tampered), nonce=PAYLOAD["nonce"], now=STAMP)
