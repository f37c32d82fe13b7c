"""The outbox and the jti store in process, on a real hub database (SQLite, WAL): sweeping, waiting for a
patient link, failure kept on the row with back-off, the export's conditional references, replay detection."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.service.hubworld import CLINIC_DID, make_kit, phq9, recipient_of
from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.validate import R4Schema
from mindbridge.hub.cds import DbJtiStore
from mindbridge.hub.consent_registry import ConsentRegistry, enrol
from mindbridge.hub.db import sqlite_url
from mindbridge.hub.ehr import EhrSettings, Outbox, export_bundle, link_patient
from mindbridge.hub.ehr_tables import OutboxRow
from mindbridge.hub.service import Hub, Settings
from mindbridge.privacy.keys import Identity


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """A started hub on a SQLite file."""
    started = Hub.start(Settings(database_url=sqlite_url(tmp_path / "hub.sqlite")), Identity.generate(
        "clinic", web_did=CLINIC_DID))
    yield started
    started.close()


def _patient_with_item9(hub: Hub, now: dt.datetime) -> str:
    kit = make_kit(now)
    with hub.sessions() as session:
        enrol(session, kit.device_list(), now)
        registry = ConsentRegistry(session, hub.clinic.did)
        registry.update_status(kit.status_list())
        registry.add_grant(kit.grant, now)
        session.commit()
    hub.receive(kit.day(now.date(), recipient_of(hub.clinic), p=0.2, surveys=[phq9(now.date(), 9, 2)]), now)
    hub.settle()
    return kit.did


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_outbox_waits_for_a_link_then_keeps_failures_with_back_off(hub: Hub) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    patient = _patient_with_item9(hub, now)
    unreachable = EhrClient(f"http://127.0.0.1:{_closed_port()}/fhir/R4", retries=0)
    outbox = Outbox(hub.sessions, unreachable)
    assert outbox.drain().pushed == outbox.drain().failed == 0  # enqueued, but the patient has no chart yet
    with hub.sessions() as session:
        (row,) = session.query(OutboxRow).all()
        assert row.patient == patient and row.attempts == 0 and row.pushed_at is None
        link_patient(session, patient, "chart-1", now)
        session.commit()
    assert outbox.drain().failed == 1
    with hub.sessions() as session:
        after = session.get(OutboxRow, row.directive_id)
        assert after is not None and after.attempts == 1 and after.pushed_at is None and after.lease_until is None
        assert "ConnectError" in after.last_error and after.next_attempt_at > dt.datetime.now(dt.UTC)
    assert outbox.drain().failed == 0, "the next attempt waits for its back-off"
    with pytest.raises(LookupError, match="not enrolled"), hub.sessions() as session:
        link_patient(session, "did:key:nobody", "chart-2", now)


def test_export_refers_to_unlinked_patients_by_did_and_is_valid_r4(hub: Hub, schema: R4Schema) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    linked, unlinked = _patient_with_item9(hub, now), _patient_with_item9(hub, now)
    with hub.sessions() as session:
        link_patient(session, linked, "chart-7", now)
        session.commit()
        bundle, count = export_bundle(session)
    assert count == 2 and bundle["type"] == "transaction"
    subjects = {e["resource"]["subject"]["reference"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "RiskAssessment"}
    assert subjects == {"Patient/chart-7", f"Patient?identifier=urn:ietf:rfc:3986|{unlinked}"}
    devices = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Device"]
    assert len(devices) == len({json.dumps(d["resource"]["identifier"]) for d in devices}), "shared resources once"
    for entry in bundle["entry"]:
        schema.check(entry["resource"])


def test_settings_file_resolves_paths_beside_it_and_names_a_bad_key_file(tmp_path: Path) -> None:
    (tmp_path / "ehr.yaml").write_text("push:\n  fhir_base: https://ehr.example.org/fhir\n  client_id: hub\n"
                                       "  key_file: keys/hub.json\ncds_clients:\n  https://ehr.example.org: ehr.json\n")
    settings = EhrSettings.from_file(tmp_path / "ehr.yaml")
    assert settings.push is not None and settings.push.key_file == tmp_path / "keys" / "hub.json"
    assert settings.cds_clients == {"https://ehr.example.org": tmp_path / "ehr.json"}
    with pytest.raises(ValueError, match="extra"):
        EhrSettings.model_validate({"push": {"fhir_base": "https://x", "client_id": "c", "key_file": "k",
                                             "secret": "oops"}})


@pytest.fixture(scope="module")
def jti_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbJtiStore]:
    """A jti store on a migrated hub database."""
    folder = tmp_path_factory.mktemp("jti")
    started = Hub.start(Settings(database_url=sqlite_url(folder / "hub.sqlite")),
                        Identity.generate("clinic", web_did=CLINIC_DID))
    yield DbJtiStore(started.sessions)
    started.close()


@settings(max_examples=25, deadline=None)
@given(claims=st.lists(st.tuples(st.sampled_from(["ehr-a", "ehr-b"]), st.sampled_from(["j1", "j2", "j3"])),
                       max_size=8))
def test_a_jti_is_accepted_once_per_issuer_until_it_expires(jti_store: DbJtiStore,
                                                            claims: list[tuple[str, str]]) -> None:
    run = uuid.uuid4().hex  # each example starts from jti values the shared store has never seen
    later = dt.datetime.now(dt.UTC).timestamp() + 300
    seen: set[tuple[str, str]] = set()
    for issuer, jti in claims:
        key = (issuer, f"{run}-{jti}")
        assert jti_store.claim(*key, later) == (key not in seen)
        seen.add(key)


def test_an_expired_jti_is_forgotten(jti_store: DbJtiStore) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()
    assert jti_store.claim("ehr-a", "short-lived", now - 1)  # already expired when stored
    assert jti_store.claim("ehr-a", "short-lived", now + 300), "the expired row was purged, not held forever"
    assert not jti_store.claim("ehr-a", "short-lived", now + 300)
