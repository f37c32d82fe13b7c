"""The hub and a real FHIR server (Medplum) end to end: the served hub pushes every directive through its
outbox under SMART Backend Services, pushing again duplicates nothing, and a test acting as the EHR calls
the hub's CDS Hooks service with signed JWTs and sends feedback that reaches the override statistics."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ehr_world import ServedHub, served_hub, write_json
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from hub.service.hubworld import phq9
from medplum_server import FhirServer, new_key
from mindbridge.fhir import codes
from mindbridge.fhir.bundle import stable_uuid
from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.smart import SmartBackendAuth, public_jwks
from mindbridge.fhir.validate import R4Schema
from mindbridge.hub.cds import SERVICE_ID
from mindbridge.hub.db import make_engine
from mindbridge.hub.ehr import DEFAULT_SCOPES
from mindbridge.hub.ehr_tables import OutboxRow

EHR_ISSUER = "https://ehr.example.org"
pytestmark = pytest.mark.slow  # two servers and a browser-free minute of HTTP


@pytest.fixture(scope="module")
def ehr_key() -> ECKey:
    """The EHR's key for signing CDS Hooks calls."""
    return new_key()


@pytest.fixture(scope="module")
def world(fhir_server: FhirServer, ehr_key: ECKey, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[ServedHub, EhrClient]]:
    """A hub connected to Medplum (push) and trusting the EHR's key (CDS Hooks), and a client of Medplum."""
    folder = tmp_path_factory.mktemp("ehr-hub")
    hub_key = new_key()
    client_id = f"hub-{uuid.uuid4().hex[:8]}"
    fhir_server.register(client_id, hub_key)
    settings = {
        "push": {"fhir_base": fhir_server.fhir_base, "client_id": client_id, "poll_seconds": 0.5,
                 "key_file": write_json(folder / "hub-key.json", hub_key.as_dict(private=True)).name},
        "cds_clients": {EHR_ISSUER: write_json(folder / "ehr-jwks.json", public_jwks(ehr_key)).name},
    }
    auth = SmartBackendAuth(fhir_server.fhir_base, client_id, hub_key, DEFAULT_SCOPES)
    with served_hub(folder, settings) as hub, EhrClient(fhir_server.fhir_base, auth) as ehr:
        yield hub, ehr


def _chart(ehr: EhrClient) -> dict[str, Any]:
    reply = ehr.http.post(f"{ehr.base}/Patient", json={"resourceType": "Patient", "active": True})
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _by_identifier(ehr: EhrClient, kind: str, name: str, value: str) -> list[dict[str, Any]]:
    ident = codes.identifier(name, value)
    return ehr.search(kind, {"identifier": f"{ident['system']}|{ident['value']}"})


def _clinical_counts(ehr: EhrClient, chart: str) -> dict[str, int]:
    searches = {"RiskAssessment": "subject", "Observation": "subject", "DetectedIssue": "patient", "Task": "patient",
                "CommunicationRequest": "subject", "Flag": "subject"}
    return {kind: len(ehr.search(kind, {param: f"Patient/{chart}"})) for kind, param in searches.items()}


def _pushed(hub: ServedHub) -> dict[str, int]:
    """Directives pushed per patient, in force or since superseded (read from the hub's database)."""
    engine = make_engine(hub.db_url)
    with engine.connect() as db:
        rows = db.execute(select(OutboxRow.patient, func.count()).where(OutboxRow.pushed_at.is_not(None))
                          .group_by(OutboxRow.patient)).all()
    engine.dispose()
    return {patient: int(count) for patient, count in rows}


def _outbox(hub: ServedHub) -> dict[str, Any]:
    with hub.client(hub.admin) as admin:
        body: dict[str, Any] = admin.get("/admin/ehr/outbox").json()
        return body


def _token(key: ECKey, audience: str, header: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    body = {"iss": EHR_ISSUER, "sub": "ehr-client", "aud": audience, "iat": now, "exp": now + 120,
            "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(header or {"alg": "ES384", "kid": key.kid, "typ": "JWT"}, body, key, algorithms=["ES384"])


def _unsigned(audience: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(dt.datetime.now(dt.UTC).timestamp())
    return f"{part({'alg': 'none', 'typ': 'JWT'})}." + part(
        {"iss": EHR_ISSUER, "aud": audience, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}) + "."


def _hook(chart: dict[str, Any] | None, patient_id: str | None) -> dict[str, Any]:
    context = {"userId": "Practitioner/example"} | ({"patientId": patient_id} if patient_id else {})
    call: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context}
    if chart is not None:
        call["prefetch"] = {"patient": chart}
    return call


def test_directives_reach_the_ehr_once_and_cds_hooks_serve_cards_and_take_feedback(
        world: tuple[ServedHub, EhrClient], ehr_key: ECKey, schema: R4Schema, tmp_path: Path) -> None:
    hub, ehr = world
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = now.date()
    safety, sustained = hub.enrol(now), hub.enrol(now)
    charts = {safety.did: _chart(ehr), sustained.did: _chart(ehr)}
    with hub.client(hub.admin) as admin:
        for did, chart in charts.items():
            assert admin.put(f"/admin/patients/{did}/ehr-link", json={"fhir_id": chart["id"]}).status_code == 200
    hub.send([safety.day(today, hub.to, p=0.2, surveys=[phq9(today, 9, 1)])])
    hub.send([sustained.day(today - dt.timedelta(days=k), hub.to, p=0.82) for k in range(6, -1, -1)])
    with hub.client(hub.admin) as admin:
        assert admin.post("/admin/cycle").status_code == 200

    def directives() -> dict[str, list[dict[str, Any]]]:
        with hub.client(hub.clinician) as clinician:
            return {did: clinician.get(f"/patients/{did}/directives").json() for did in charts}

    def settled() -> dict[str, list[dict[str, Any]]] | None:
        first = directives()
        time.sleep(0.5)
        again = directives()
        persistent = any(d["rule_id"] == "high-risk-persistent" for d in again[sustained.did])
        return again if again == first and persistent and again[safety.did] else None

    found = hub.wait_for("both patients' directives", settled)
    assert {d["rule_id"] for d in found[safety.did]} == {"item9-positive"}
    total = sum(len(listed) for listed in found.values())
    # a directive a later envelope superseded may have been pushed before it arrived: at least those in force
    outbox = hub.wait_for("the outbox to drain", lambda: (o := _outbox(hub))["pushed"] >= total and
                          o["pending"] == 0 and o)
    pushed = _pushed(hub)
    assert sum(pushed.values()) == outbox["pushed"]
    assert outbox["pending"] == 0 and outbox["unlinked"] == 0 and outbox["errors"] == []

    # Read back from the EHR: every directive's resources exist exactly once, pointing at the right chart.
    for did, listed in found.items():
        reference = f"Patient/{charts[did]['id']}"
        for directive in listed:
            did_id = directive["id"]
            kinds = [("RiskAssessment", "risk-assessment"), ("DetectedIssue", "detected-issue"), ("Task", "task")]
            if directive["tier"] in ("critical", "urgent"):
                kinds.append(("Flag", "flag"))
            for kind, name in kinds:
                (resource,) = _by_identifier(ehr, kind, name, did_id)
                assert (resource.get("subject") or resource.get("for") or resource.get("patient")) == {
                    "reference": reference}
            trail = ehr.read(f"Provenance/{stable_uuid('Provenance', did_id)}")
            targets = {t["reference"].split("/")[0] for t in trail["target"]}
            assert targets >= {"RiskAssessment", "DetectedIssue", "Task"}
    item9 = ehr.search("Observation", {"subject": f"Patient/{charts[safety.did]['id']}",
                                       "code": f"{codes.LOINC}|44260-8"})
    assert len(item9) == 1 and item9[0]["valueCodeableConcept"]["coding"][0]["code"] == "LA6569-3"
    (stat,) = ehr.search("Task", {"patient": f"Patient/{charts[safety.did]['id']}", "priority": "stat"})
    before = {did: _clinical_counts(ehr, chart["id"]) for did, chart in charts.items()}
    assert before[safety.did]["Observation"] == 2  # the PHQ-9 total and its item 9
    assert before[sustained.did]["Task"] == pushed[sustained.did] >= len(found[sustained.did])

    # Push everything again: nothing is created twice.
    with hub.client(hub.admin) as admin:
        assert admin.post("/admin/ehr/requeue").json()["requeued"] == outbox["pushed"]
    hub.wait_for("the second push", lambda: (o := _outbox(hub))["pushed"] == outbox["pushed"] and o["pending"] == 0)
    assert {did: _clinical_counts(ehr, chart["id"]) for did, chart in charts.items()} == before

    # The export command writes the same resources as one bundle: valid R4, and pushing it creates nothing.
    from typer.testing import CliRunner

    from mindbridge.hub.commands import hub_app

    exported = tmp_path / "directives.json"
    result = CliRunner().invoke(hub_app, ["fhir-export", "--out", str(exported), "--db", hub.db_url])
    assert result.exit_code == 0, result.output
    bundle = json.loads(exported.read_text())
    for entry in bundle["entry"]:
        schema.check(entry["resource"])
    with EhrClient(ehr.base, ehr.http.auth, max_entries=8) as again:
        assert again.push(bundle).created == 0
    assert {did: _clinical_counts(ehr, chart["id"]) for did, chart in charts.items()} == before

    # CDS Hooks, with the test as the EHR.
    service = f"{hub.url}/cds-services/{SERVICE_ID}"
    with hub.client() as cds:
        (offered,) = cds.get("/cds-services").json()["services"]
        assert offered["id"] == SERVICE_ID and offered["hook"] == "patient-view"
        assert offered["prefetch"] == {"patient": "Patient/{{context.patientId}}"}

        def call(token: str, body: dict[str, Any], url: str = service) -> httpx.Response:
            return cds.post(url, json=body, headers={"Authorization": f"Bearer {token}"})

        chart = charts[safety.did]
        signed = _token(ehr_key, service)
        answer = call(signed, _hook(chart, chart["id"]))
        assert answer.status_code == 200, answer.text
        (card,) = answer.json()["cards"]
        assert card["indicator"] == "critical" and card["summary"].startswith("Same-day suicide-risk assessment")
        assert card["source"]["label"].startswith("mindbridge depression-mbc")
        (suggestion,) = card["suggestions"]
        created = suggestion["actions"][0]["resource"]
        assert created["resourceType"] == "Task" and created["identifier"] == stat["identifier"]
        assert {r["code"] for r in card["overrideReasons"]} >= {"already-addressed", "not-clinically-relevant"}
        assert card["links"][0]["url"].startswith(f"{hub.url}/directives/")

        replayed = call(signed, _hook(chart, chart["id"]))
        assert replayed.status_code == 401 and "replay" in replayed.json()["detail"]
        elsewhere = call(_token(ehr_key, f"{hub.url}/cds-services/other-service"), _hook(chart, chart["id"]))
        assert elsewhere.status_code == 401 and "aud" in elsewhere.json()["detail"]
        unsigned = call(_unsigned(service), _hook(chart, chart["id"]))
        assert unsigned.status_code == 401 and "alg 'none' refused" in unsigned.json()["detail"]
        impostor = call(_token(new_key(), service, header={"alg": "ES384", "kid": ehr_key.kid, "typ": "JWT"}),
                        _hook(chart, chart["id"]))
        assert impostor.status_code == 401 and "signature" in impostor.json()["detail"]
        assert call(_token(ehr_key, service), _hook(None, chart["id"])).status_code == 412
        assert call(_token(ehr_key, service), _hook(chart, None)).status_code == 412
        unknown = _chart(ehr)
        assert call(_token(ehr_key, service), _hook(unknown, unknown["id"])).json() == {"cards": []}

        sustained_chart = charts[sustained.did]
        cards = call(_token(ehr_key, service), _hook(sustained_chart, sustained_chart["id"])).json()["cards"]
        urgent = cards[0]  # most urgent first
        assert urgent["indicator"] == "warning" and urgent["summary"].startswith("Contact the patient")
        feedback_url = f"{service}/feedback"
        said = {"feedback": [{"card": urgent["uuid"], "outcome": "overridden",
                              "overrideReason": {"reason": card["overrideReasons"][0],
                                                 "userComment": "seen in clinic this morning"},
                              "outcomeTimestamp": now.isoformat()}]}
        assert call(_token(ehr_key, service), said, feedback_url).status_code == 401  # audience is the feedback URL
        stored = call(_token(ehr_key, feedback_url), said, feedback_url)
        assert stored.status_code == 200 and stored.json() == {"stored": 1}
        assert call(_token(ehr_key, feedback_url), said, feedback_url).json() == {"stored": 0}  # a resend
        stranger = {"feedback": [{**said["feedback"][0], "card": str(uuid.uuid4())}]}
        assert call(_token(ehr_key, feedback_url), stranger, feedback_url).status_code == 404

    with hub.client(hub.admin) as admin:
        rates = {r["rule_id"]: r for r in admin.get("/admin/override-rates").json()}
        audit = admin.get("/admin/audit", params={"limit": 5000}).json()
    assert rates["high-risk-persistent"]["overridden"] == 1 and rates["high-risk-persistent"]["override_rate"] == 1.0
    details = json.dumps(audit)
    assert "cds:https://ehr.example.org" in details and "seen in clinic" not in details  # no free text in the log


def test_a_directive_superseded_after_its_push_is_withdrawn_from_the_ehr(world: tuple[ServedHub, EhrClient]) -> None:
    hub, ehr = world
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    kit = hub.enrol(now)
    chart = _chart(ehr)
    with hub.client(hub.admin) as admin:
        assert admin.put(f"/admin/patients/{kit.did}/ehr-link", json={"fhir_id": chart["id"]}).status_code == 200
    hub.send([kit.day(now.date() - dt.timedelta(days=4), hub.to, p=0.2)])  # then silence: a lost signal

    def lost() -> list[dict[str, Any]]:
        with hub.client(hub.clinician) as clinician:
            return [d for d in clinician.get(f"/patients/{kit.did}/directives").json() if d["rule_id"] == "signal-lost"]

    (directive,) = hub.wait_for("the lost-signal directive", lost)

    def tasks() -> list[dict[str, Any]]:
        return _by_identifier(ehr, "Task", "task", directive["id"])

    (task,) = hub.wait_for("its Task in the EHR", tasks)
    assert task["status"] == "requested"
    # the device's backlog arrives: the signal was never lost, so the directive is superseded and withdrawn
    hub.send([kit.day(now.date() - dt.timedelta(days=k), hub.to, p=0.2) for k in range(3, -1, -1)])
    hub.wait_for("the directive to be superseded", lambda: not lost())
    (withdrawn,) = hub.wait_for("the Task cancelled in the EHR",
                                lambda: [t for t in tasks() if t["status"] == "cancelled"])
    assert withdrawn["id"] == task["id"]
    (issue,) = _by_identifier(ehr, "DetectedIssue", "detected-issue", directive["id"])
    assert issue["status"] == "cancelled"
    assert _by_identifier(ehr, "RiskAssessment", "risk-assessment", directive["id"])[0]["status"] == "cancelled"
