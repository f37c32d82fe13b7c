"""Envelope throughput: seal and open per core (envelopes/s) beside the primitives alone.

The primitives baseline for opening is one Ed25519 verify + one HPKE open of the same size; for
sealing, one Ed25519 sign + one HPKE seal. The ratio says how much the envelope machinery (canonical
JSON, header and payload validation, DID decoding, replay bookkeeping, consent check) costs on top.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mindbridge.privacy.consent import ConsentBook, Scope, issue_grant, new_status_list
from mindbridge.privacy.envelope import SUITE, Opener, Recipient, seal
from mindbridge.privacy.keys import Identity
from mindbridge.privacy.replay import MemoryReplayGuard
from mindbridge.privacy.rotation import DeviceList, Roster
from mindbridge.summary import Deviation, Interval, RiskSummary

N = 2_000
NOW = dt.datetime.now(dt.UTC)


def rate(fn: Callable[[int], object], n: int = N) -> float:
    """Calls per second of fn(i) over n calls on one thread."""
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def main() -> None:
    """Measure and print seal/open rates and their ratio to the raw primitives."""
    patient = Identity.generate("patient")
    device = Identity.generate("device", patient=patient.did)
    clinic = Identity.generate("clinic", web_did="did:web:clinic.example.org")
    assert clinic.agreement is not None
    recipient = Recipient(f"{clinic.did}#kex", clinic.agreement.public_key())
    roster = Roster()
    roster.update(DeviceList(patient.did, 0).enrol(device.did, NOW - dt.timedelta(days=1)).sign(patient))
    status = new_status_list(patient.did)
    book = ConsentBook(clinic.did)
    book.update_status(status.sign(patient, NOW))
    book.add_grant(issue_grant(patient, clinic.did, "treatment", Scope.of(["sleep", "activity"],
                               ["risk", "deviations", "coverage"]), NOW + dt.timedelta(days=30), status.id, 1,
                               NOW - dt.timedelta(hours=1)))
    summary = RiskSummary(
        subject=patient.did, window_start=dt.date(2025, 2, 1), window_end=dt.date(2025, 2, 14), created_at=NOW,
        model_id="logit", model_version="1", probability=0.3, interval=Interval(lower=0.2, upper=0.4),
        risk_band="moderate", coverage={"sleep": 0.9, "activity": 0.8},
        deviations=[Deviation(biomarker=f"b{i}", family="sleep", unit="h", value=5.0, baseline=7.0, robust_z=-2.0,
                              text="Less sleep than usual") for i in range(4)])
    envelopes = [seal(summary, device, recipient, i + 1, NOW) for i in range(N)]
    opener = Opener.for_clinic(clinic, roster, MemoryReplayGuard(), RiskSummary, book)

    seal_rate = rate(lambda i: seal(summary, device, recipient, i + 1, NOW))
    open_rate = rate(lambda i: opener.open(envelopes[i], NOW))

    signer, kex = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    plain = b"x" * 64 + summary.model_dump_json().encode()
    signature, sealed = signer.sign(plain), SUITE.encrypt(plain, kex.public_key(), info=b"h" * 300)
    verify_key, public = signer.public_key(), kex.public_key()
    raw_seal = rate(lambda i: (signer.sign(plain), SUITE.encrypt(plain, public, info=b"h" * 300)))
    raw_open = rate(lambda i: (verify_key.verify(signature, plain), SUITE.decrypt(sealed, kex, info=b"h" * 300)))

    print(f"envelope of {len(envelopes[0]):,} bytes (RiskSummary with 4 deviations), {N:,} per run, one thread")
    print(f"seal: {seal_rate:8,.0f} envelopes/s   primitives (Ed25519 sign + HPKE seal):   {raw_seal:8,.0f}/s   "
          f"ratio {seal_rate / raw_seal:.2f}")
    print(f"open: {open_rate:8,.0f} envelopes/s   primitives (Ed25519 verify + HPKE open): {raw_open:8,.0f}/s   "
          f"ratio {open_rate / raw_open:.2f}")


if __name__ == "__main__":
    main()
