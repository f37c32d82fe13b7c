"""The hub over real HTTP on loopback (uvicorn in a thread), on SQLite and PostgreSQL, with real sealed
envelopes and real consent grants: intake and its refusals, roles and panels, the directive cycle, triage."""

from __future__ import annotations

import datetime as dt

import httpx
from hubworld import Kit, make_kit, phq9, recipient_of, summary_on
from sqlalchemy import func, select

from mindbridge.hub.auth import Role, issue_token
from mindbridge.hub.db import AuditRow, EnvelopeRow
from mindbridge.hub.service import Hub
from mindbridge.privacy.keys import Identity


def _tokens(hub: Hub) -> dict[str, str]:
    with hub.sessions() as s:
        users: tuple[tuple[str, Role], ...] = (("root", "admin"), ("alice", "clinician"), ("bob", "clinician"))
        tokens = {name: issue_token(s, name, role) for name, role in users}
        s.commit()
    return tokens


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _enrol(client: httpx.Client, admin: str, kit: Kit, consent: bool = True) -> None:
    enrolled = client.post("/admin/patients", json={"device_list": kit.device_list()}, headers=_bearer(admin))
    assert enrolled.status_code == 201
    assert client.post("/consents/status", json={"status_list": kit.status_list()}).status_code == 201
    if consent:
        assert client.post("/consents", json={"grant": kit.grant}).status_code == 201


def _stored(hub: Hub) -> int:
    with hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(EnvelopeRow)) or 0)


def _audit(hub: Hub, outcome: str) -> list[AuditRow]:
    with hub.sessions() as s:
        return list(s.scalars(select(AuditRow).where(AuditRow.outcome == outcome).order_by(AuditRow.seq)))


def test_intake_accepts_once_and_refuses_replays_consentless_and_misaddressed(
        live: str, hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    tokens, to = _tokens(hub), recipient_of(clinic)
    kit, stranger, revoking = make_kit(now), make_kit(now), make_kit(now)
    with httpx.Client(base_url=live, timeout=30) as client:
        for k in (kit, stranger, revoking):
            _enrol(client, tokens["root"], k, consent=k is not stranger)
        first = kit.day(now.date(), to)
        accepted = client.post("/intake", content=first)
        assert accepted.status_code == 201, accepted.text
        retry = client.post("/intake", content=first)
        assert retry.status_code == 200 and retry.json() == accepted.json(), "an exact retry gets the same receipt"
        reused = kit.seal(summary_on(kit.did, now.date(), p=0.7, created=now), to, seq=kit.seq)  # same seq
        replay = client.post("/intake", content=reused)
        assert replay.status_code == 409 and replay.json()["error"] == "replay"
        no_consent = client.post("/intake", content=stranger.day(now.date(), to))
        assert no_consent.status_code == 403 and no_consent.json()["error"].startswith("consent")
        revocation = client.post("/consents/status", json={"status_list": revoking.status_list(revoke=True)})
        assert revocation.status_code == 201
        revoked = client.post("/intake", content=revoking.day(now.date(), to))
        assert revoked.status_code == 403 and revoked.json()["error"] == "consent-revoked"
        other_clinic = recipient_of(Identity.generate("clinic", web_did="did:web:elsewhere.example.org"))
        misaddressed = client.post("/intake", content=kit.day(now.date(), other_clinic))
        assert misaddressed.status_code == 422 and misaddressed.json()["error"] == "recipient"
        metrics = client.get("/metrics").text
    assert _stored(hub) == 1, "only the one accepted envelope is stored"
    refusals = _audit(hub, "refused")
    assert [r.action for r in refusals] == ["intake"] * 4
    assert [r.detail.split('"code":"')[1].split('"')[0] for r in refusals] == [
        "replay", "consent", "consent-revoked", "recipient"]
    assert 'outcome="accepted"} 1' in metrics and 'outcome="retried"} 1' in metrics


def test_roles_panels_and_consent_gate_every_read_and_audit_it(
        live: str, hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    tokens, to = _tokens(hub), recipient_of(clinic)
    mine, theirs = make_kit(now), make_kit(now)
    with httpx.Client(base_url=live, timeout=30) as client:
        for k in (mine, theirs):
            _enrol(client, tokens["root"], k)
            assert client.post("/intake", content=k.day(now.date(), to)).status_code == 201
        alice, bob, root = _bearer(tokens["alice"]), _bearer(tokens["bob"]), _bearer(tokens["root"])
        for who, patient in (("alice", mine.did), ("bob", theirs.did)):
            assert client.post("/admin/panels", json={"clinician": who, "patient": patient},
                               headers=root).status_code == 201
        assert client.get(f"/patients/{mine.did}", headers=alice).status_code == 200
        assert client.get(f"/patients/{theirs.did}", headers=alice).status_code == 403, "not on alice's panel"
        assert client.get(f"/patients/{mine.did}/directives", headers=bob).status_code == 403
        assert client.get(f"/patients/{mine.did}", headers=root).status_code == 403, "admins read no patient data"
        assert client.get("/admin/override-rates", headers=alice).status_code == 403, "clinicians are not admins"
        assert client.post("/admin/cycle", headers=alice).status_code == 403
        assert client.get("/queue").status_code == 401
        assert client.get("/queue", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
        consents = client.get(f"/patients/{mine.did}/consents", headers=alice)
        assert consents.status_code == 200 and consents.json()[0]["status"] == "active"
        # Revoking consent closes the patient's record to the clinician on their panel at once.
        assert client.post("/consents/status", json={"status_list": mine.status_list(revoke=True)}).status_code == 201
        assert client.get(f"/patients/{mine.did}", headers=alice).status_code == 403
        assert [p["consent"] for p in client.get("/patients", headers=alice).json()] == [False]
        assert client.get("/openapi.json").json()["info"]["title"] == "mindbridge hub"
    reads = [(r.actor, r.entity) for r in _audit(hub, "ok") if r.action == "read"]
    denied = [(r.actor, r.entity) for r in _audit(hub, "denied")]
    assert ("alice", f"Patient/{mine.did}") in reads and ("alice", f"Patient/{theirs.did}") in denied
    assert ("bob", f"Patient/{mine.did}") in denied and ("root", f"Patient/{mine.did}") in denied
    assert ("alice", "Endpoint/admin/override-rates") in denied and ("alice", "Endpoint/admin/cycle") in denied
    assert denied.count(("alice", f"Patient/{mine.did}")) == 1, "the read after revocation is refused and audited"


def test_item9_is_critical_and_unsnoozable_gap_raises_signal_lost_and_feedback_feeds_rates(
        live: str, hub: Hub, clinic: Identity, now: dt.datetime) -> None:
    tokens, to = _tokens(hub), recipient_of(clinic)
    kit = make_kit(now)
    alice, root = _bearer(tokens["alice"]), _bearer(tokens["root"])
    with httpx.Client(base_url=live, timeout=30) as client:
        _enrol(client, tokens["root"], kit)
        client.post("/admin/panels", json={"clinician": "alice", "patient": kit.did}, headers=root)
        sent = client.post("/intake", content=kit.day(now.date(), to, p=0.2, surveys=[phq9(now.date(), 9, 1)]))
        assert sent.status_code == 201
        hub.settle()  # the directive cycle runs in the background, off the request path
        queue = client.get("/queue", headers=alice).json()
        (critical,) = queue["interruptive"]
        assert critical["tier"] == "critical" and critical["never_suppressed"]
        assert critical["action"] == "safety_assessment" and critical["rule_ids"] == ["item9-positive"]
        snoozed = client.post(f"/queue/{critical['id']}/snooze", headers=alice,
                              json={"until": (now + dt.timedelta(hours=1)).isoformat(), "reason": "busy"})
        assert snoozed.status_code == 409 and "never-suppressed" in snoozed.json()["detail"]
        assert client.post(f"/queue/{critical['id']}/acknowledge", headers=alice).json()["status"] == "acknowledged"
        assert client.post(f"/queue/{critical['id']}/feedback", headers=alice,
                           json={"outcome": "accepted"}).status_code == 201
        assert client.get("/queue", headers=alice).json()["interruptive"] == [], "acknowledged items leave the queue"

        later = now + dt.timedelta(days=8)
        cycled = client.post("/admin/cycle", params={"now": later.isoformat()}, headers=root)
        assert cycled.status_code == 200 and cycled.json()["changed_items"] >= 1
        directives = client.get(f"/patients/{kit.did}/directives", headers=alice).json()
        lost = [d for d in directives if d["rule_id"] == "signal-lost-week"]
        assert lost and lost[0]["evidence"]["days_without_data"] == 8 and lost[0]["tier"] == "urgent"
        queue = client.get("/queue", headers=alice).json()
        (contact,) = [i for i in queue["interruptive"] + queue["digest"] if i["action"] == "contact_patient"]
        snoozed = client.post(f"/queue/{contact['id']}/snooze", headers=alice,
                              json={"until": (now + dt.timedelta(hours=2)).isoformat(), "reason": "called, no answer"})
        assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed"
        assert client.post(f"/queue/{contact['id']}/feedback", headers=alice,
                           json={"outcome": "overridden", "reason": "patient on holiday"}).status_code == 201
        rates = {r["rule_id"]: r for r in client.get("/admin/override-rates", headers=root).json()}
        inbox = client.get("/inbox", headers=alice)
    assert rates["signal-lost-week"]["overridden"] == 1 and rates["signal-lost-week"]["override_rate"] == 1.0
    assert rates["item9-positive"]["shown"] == 1 and rates["item9-positive"]["override_rate"] == 0.0
    assert inbox.status_code == 200 and "<script" not in inbox.text and "http" not in inbox.text.split("<body>")[1]
