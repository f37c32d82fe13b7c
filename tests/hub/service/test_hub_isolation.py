"""One patient never blocks another: a validly signed but hostile summary (NaN, z of 1e300, control characters,
too many items) is refused at intake naming the field and stores nothing; a patient whose cycle fails is
recorded, listed for the administrator and retried, while another patient's item-9 directive exists as soon
as their envelope's receipt does (the never-suppressed rules run inside the intake's transaction)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import httpx
import pytest
from hubworld import Kit, make_kit, phq9, recipient_of, register, summary_on
from sqlalchemy import func, select

from mindbridge.hub import repository
from mindbridge.hub.auth import issue_token
from mindbridge.hub.db import AuditRow, CycleFailureRow, DirectiveRow, EnvelopeRow, QueueItemRow
from mindbridge.hub.pathways import PathwayEngine, PatientHistory, Received, bounded
from mindbridge.hub.service import Hub
from mindbridge.privacy.canonical import canonical
from mindbridge.privacy.envelope import ALG, FORMAT, SUITE, Header, Recipient, _signed_bytes
from mindbridge.privacy.keys import Identity, b64
from mindbridge.summary import Deviation, Directive


def forge(kit: Kit, payload: bytes, to: Recipient, now: dt.datetime) -> bytes:
    """An envelope a hostile device signs and seals around payload bytes our own `seal` would refuse to write."""
    kit.seq += 1
    header = Header(id=str(uuid.uuid4()), alg=ALG, sender=kit.device.did, patient=kit.did, recipient=to.kid,
                    created=int(now.timestamp()), seq=kit.seq)
    header_bytes = canonical(header.model_dump())
    signature = kit.device.signing.sign(_signed_bytes(header_bytes, payload))
    sealed = SUITE.encrypt(signature + payload, to.key, info=FORMAT.encode("ascii") + b"\0" + header_bytes)
    return canonical({"v": FORMAT, "hdr": header.model_dump(), "ct": b64(sealed)})


def _summary(kit: Kit, now: dt.datetime) -> dict[str, object]:
    return summary_on(kit.did, now.date(), p=0.4, created=now).model_dump(mode="json")


def _deviation(**change: object) -> dict[str, object]:
    good = Deviation(biomarker="activity_mean", family="activity", unit="{counts}/min", value=100.0, baseline=200.0,
                     robust_z=-3.0, days=20, text="activity mean 50% lower than this patient's usual")
    return good.model_dump(mode="json") | change


HOSTILE = {
    "probability-nan": (lambda s: s | {"probability": float("nan")}, "probability"),
    "z-1e300": (lambda s: s | {"deviations": [_deviation(robust_z=1e300)]}, "deviations.0.robust_z"),
    "value-infinite": (lambda s: s | {"deviations": [_deviation(value=float("inf"))]}, "deviations.0.value"),
    "coverage-above-one": (lambda s: s | {"coverage": {"activity": 1.5}}, "coverage.activity"),
    "control-characters": (lambda s: s | {"deviations": [_deviation(text="fine\u001b[31m red")]}, "deviations.0.text"),
    "too-many-deviations": (lambda s: s | {"deviations": [_deviation()] * 13}, "deviations"),
    "baseline-days": (lambda s: s | {"deviations": [_deviation(days=10_000)]}, "deviations.0.days"),
    "item-answer": (lambda s: s | {"surveys": [phq9(dt.date.today(), 12, 2).model_dump(mode="json")
                                               | {"flagged_items": {"item9": 99}}]}, "surveys.0.flagged_items.item9"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_signed_summary_with_a_bad_field_is_refused_naming_it_and_nothing_is_stored(
        case: str, live: str, hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    kit, to = make_kit(now), recipient_of(clinic)
    register(hub, [kit], now)
    change, field = HOSTILE[case]
    payload = json.dumps(change(_summary(kit, now)), allow_nan=True).encode()
    with httpx.Client(base_url=live, timeout=30) as client:
        refused = client.post("/intake", content=forge(kit, payload, to, now))
        assert refused.status_code == 422, refused.text
        assert f"RiskSummary.{field}" in refused.json()["detail"]
        good = client.post("/intake", content=forge(kit, canonical(_summary(kit, now)), to, now))
        assert good.status_code == 201, "the device's next honest summary is accepted"
    hub.settle()
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EnvelopeRow)) == 1
        refusals = list(s.scalars(select(AuditRow.detail).where(AuditRow.outcome == "refused")))
        assert len(refusals) == 1 and field in json.loads(refusals[0])["reason"]
        assert repository.history(s, kit.did, now, 30)[0].summary.probability == 0.4


def test_a_rationale_quotes_a_bounded_z_and_never_overflows() -> None:
    day = dt.date(2026, 11, 20)
    text = "sleep midpoint around 04:10, usually 01:30 (2 h 40 min later), far outside this patient's usual range"
    dev = Deviation(biomarker="sleep_midpoint", family="sleep", unit="h", value=4.17, baseline=1.5, robust_z=999.0,
                    days=28, text=text)
    summaries = [summary_on("did:key:zPatient", day - dt.timedelta(days=k), 0.2)
                 .model_copy(update={"deviations": [dev]}) for k in range(3)]
    history = PatientHistory("did:key:zPatient", [Received(f"e{k}", s) for k, s in enumerate(summaries)])
    [directive] = [d for d in PathwayEngine.from_file().evaluate(history, dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
                   if d.rule_id == "sleep-shift"]
    assert "(robust z above +10; baseline of 28 days)" in directive.rationale and "999" not in directive.rationale
    cut = bounded("an evidence sentence, " * 30, 300)
    assert len(cut) <= 300 and cut.endswith(" evidence…") and len(cut) > 280


def _fail_for(hub: Hub, patient: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the pathway raise for one patient's full evaluation (a defect that reaches one patient only)."""
    real = hub.cycle.pathway.evaluate

    def evaluate(history: PatientHistory, now: dt.datetime, on_rule: object = None) -> list[Directive]:
        if history.patient == patient:
            raise RuntimeError("injected failure for one patient")
        return real(history, now)

    monkeypatch.setattr(hub.cycle.pathway, "evaluate", evaluate)


def test_one_patients_failing_cycle_never_withholds_anothers_item9_directive(
        live: str, hub: Hub, clinic: Identity, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    failing, safe = make_kit(now), make_kit(now)
    register(hub, [failing, safe], now)
    to = recipient_of(clinic)
    _fail_for(hub, failing.did, monkeypatch)
    with hub.sessions() as s:
        admin = issue_token(s, "root", "admin")
        s.commit()
    with httpx.Client(base_url=live, timeout=30) as client:
        assert client.post("/intake", content=failing.day(now.date(), to, p=0.9)).status_code == 201
        receipt = client.post("/intake", content=safe.day(now.date(), to, surveys=[phq9(now.date(), 14, 2)]))
        assert receipt.status_code == 201
        with hub.sessions() as s:  # right after the receipt, before any background cycle could have run
            assert "item9-positive" in set(s.scalars(select(DirectiveRow.rule_id)
                                                     .where(DirectiveRow.patient == safe.did)))
            item = s.scalars(select(QueueItemRow).where(QueueItemRow.patient == safe.did)).one()
            assert (item.tier, item.never_suppressed) == ("critical", True)
        hub.cycle.run([failing.did, safe.did], now)  # one transaction for both: the failure stays with its patient
        hub.settle()
        with hub.sessions() as s:
            rules = set(s.scalars(select(DirectiveRow.rule_id).where(DirectiveRow.patient == safe.did)))
            assert "item9-positive" in rules
            assert not list(s.scalars(select(DirectiveRow).where(DirectiveRow.patient == failing.did)))
            row = s.get(CycleFailureRow, failing.did)
            assert row is not None and row.stage == "evaluate" and "injected failure" in row.error
            assert row.attempts >= 1 and row.next_retry_at > row.last_failed_at
            assert s.get(CycleFailureRow, safe.did) is None
            assert s.scalars(select(AuditRow).where(AuditRow.outcome == "error",
                                                    AuditRow.entity == f"Patient/{failing.did}")).first()
        listed = client.get("/admin/cycle-failures", headers={"Authorization": f"Bearer {admin}"})
        assert listed.status_code == 200
        assert [(f["patient"], f["stage"]) for f in listed.json()] == [(failing.did, "evaluate")]
        assert "mindbridge_cycle_failures_total" in client.get("/metrics").text
    monkeypatch.undo()  # the defect is mended: the next retry succeeds and clears the record
    hub.cycle.run([failing.did], now)
    with hub.sessions() as s:
        assert s.get(CycleFailureRow, failing.did) is None


def test_a_stored_row_that_no_longer_validates_fails_only_its_own_patient(
        hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    broken, fine = make_kit(now), make_kit(now)
    register(hub, [broken, fine], now)
    to = recipient_of(clinic)
    hub.receive(broken.day(now.date(), to), now)
    hub.receive(fine.day(now.date(), to, surveys=[phq9(now.date(), 22, 0)]), now)
    hub.settle()
    with hub.sessions() as s:  # a row written before intake validated (e.g. by an older hub): NaN stored as null
        row = s.scalars(select(EnvelopeRow).where(EnvelopeRow.patient == broken.did)).one()
        row.summary = json.dumps(json.loads(row.summary) | {"probability": None})
        s.commit()
    hub.cycle.run([broken.did, fine.did], now + dt.timedelta(hours=1))
    with hub.sessions() as s:
        assert "phq9-severe" in set(s.scalars(select(DirectiveRow.rule_id).where(DirectiveRow.patient == fine.did)))
        failure = s.get(CycleFailureRow, broken.did)
        assert failure is not None and failure.stage == "read" and "probability" in failure.error
