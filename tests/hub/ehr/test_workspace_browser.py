"""The clinician's workspace in Debian's Chromium (Playwright), against a hub pushing to Medplum: the inbox
without a session goes to the sign-in page, which refuses a wrong token; patients appear by the name on
their linked EHR chart (or their enrolment label), rows say why they fired and filter; the patient page shows
the name, MRN, charts with units, every directive with its evidence and versions, and who acknowledged what.
axe-core (npm, lockfile) finds no serious or critical violation on the sign-in page, the inbox and the
patient page. Screenshots of the three go to `test-output/workspace/`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ehr_world import ServedHub, served_hub, write_json

from hub.service.hubworld import Kit, phq9, summary_on
from medplum_server import FhirServer, new_key
from mindbridge.fhir.client import EhrClient
from mindbridge.fhir.smart import SmartBackendAuth
from mindbridge.hub.access import TOKEN_COOKIE
from mindbridge.hub.ehr import DEFAULT_SCOPES
from mindbridge.summary import Deviation

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("axe") / "node_modules" / "axe-core" / "axe.min.js"
OUT = Path(__file__).parents[3] / "test-output" / "workspace"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install -y chromium")]
MRN = "MRN-204518"


@pytest.fixture(scope="module")
def world(fhir_server: FhirServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedHub, EhrClient]]:
    """A hub pushing to Medplum, and a client of Medplum."""
    folder = tmp_path_factory.mktemp("workspace-hub")
    key = new_key()
    client_id = f"hub-{uuid.uuid4().hex[:8]}"
    fhir_server.register(client_id, key)
    settings = {"push": {"fhir_base": fhir_server.fhir_base, "client_id": client_id, "poll_seconds": 0.5,
                         "key_file": write_json(folder / "hub-key.json", key.as_dict(private=True)).name}}
    with served_hub(folder, settings) as hub, EhrClient(
            fhir_server.fhir_base, SmartBackendAuth(fhir_server.fhir_base, client_id, key, DEFAULT_SCOPES)) as ehr:
        yield hub, ehr


def _midpoint(day: int, hours: float) -> Deviation:
    """A sleep-midpoint deviation worded as the device words it (the usual at 03:00)."""
    later = hours - 3.0
    return Deviation(biomarker="sleep_midpoint", family="sleep", unit="h", value=hours, baseline=3.0,
                     robust_z=later / 0.37, days=20 + day,
                     text=f"sleep midpoint around {int(hours):02d}:00, usually 03:00 ({int(later)} h 0 min later)")


def _history(kit: Kit, hub: ServedHub, today: dt.date) -> list[bytes]:
    """Twelve days: rising risk, a sleep midpoint drifting later, one day the watch was off, PHQ-9 with item 9."""
    out = []
    for k in range(12):
        day = today - dt.timedelta(days=11 - k)
        summary = summary_on(kit.did, day, min(0.9, 0.3 + 0.05 * k),
                             [phq9(day, 14 + (k == 11) * 3, 1 if k == 11 else 0)] if k in (4, 11) else None, kit.now)
        change: dict[str, Any] = {"deviations": [_midpoint(k, 3.0 + 0.5 * k)] if k >= 7 else []}
        if k == 9:
            change = {"coverage": {"activity": 0.05, "sleep": 0.1}, "deviations": []}
        out.append(kit.seal(summary.model_copy(update=change), hub.to))
    return out


def _serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, as 'rule: help (nodes)'."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in found if v["impact"] in ("serious", "critical")]


def test_a_clinician_finds_patients_by_name_reads_their_page_and_acts(world: tuple[ServedHub, EhrClient]) -> None:
    from playwright.sync_api import sync_playwright

    hub, ehr = world
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    chart = ehr.http.post(f"{ehr.base}/Patient", json={
        "resourceType": "Patient", "active": True, "birthDate": "1961-04-09",
        "name": [{"use": "official", "given": ["Ada"], "family": "Lovelace"}],
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "MR"}]}, "system": "urn:example:mrn", "value": MRN}]}).json()
    linked, labelled = hub.enrol(now), hub.enrol(now, label="Bed 4, ward B")
    with hub.client(hub.admin) as admin:
        assert admin.put(f"/admin/patients/{linked.did}/ehr-link", json={"fhir_id": chart["id"]}).status_code == 200
    hub.send(_history(linked, hub, now.date()))
    hub.send([labelled.day(now.date(), hub.to, p=0.2, surveys=[phq9(now.date(), 21, 0)])])
    with hub.client(hub.clinician) as api:
        hub.wait_for("both patients' items", lambda: len({i["patient"] for q in api.get("/queue").json().values()
                                                           for i in q}) == 2)
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{hub.url}/inbox")
        assert page.url.startswith(f"{hub.url}/inbox/login"), "no session: the sign-in page, not JSON"
        assert _serious(page) == []
        page.screenshot(path=str(OUT / "login.png"), full_page=True)
        page.fill("#token", "not-a-token")
        page.click("button[type=submit]")
        assert "not a clinician's token" in page.locator("[role=alert]").inner_text()
        assert not [c for c in page.context.cookies() if c["name"] == TOKEN_COOKIE and c["value"]]
        page.fill("#token", hub.clinician)
        page.click("button[type=submit]")
        page.wait_for_url(f"{hub.url}/inbox")

        rows = page.locator("tbody tr")
        names = page.locator("tbody tr td:nth-child(2) a").all_inner_texts()
        assert "Ada Lovelace" in names and "Bed 4, ward B" in names and not any("did:key" in n for n in names)
        critical = page.locator("tbody tr.critical").first
        assert "Ada Lovelace" in critical.inner_text() and "item 9" in critical.inner_text().lower()
        assert rows.count() >= 3
        assert "sleep midpoint around 08:00, usually 03:00 (5 h 0 min later)" in page.content()
        assert _serious(page) == []
        page.screenshot(path=str(OUT / "inbox.png"), full_page=True)
        page.select_option("select[name=tier]", "critical")
        page.click("form.filters button[type=submit]")
        page.wait_for_load_state()
        assert set(page.locator("tbody tr td.tier").all_inner_texts()) == {"CRITICAL (NEVER SUPPRESSED)"}
        page.locator("tbody tr.critical button[value=phq9]").click()
        page.wait_for_load_state()
        page.locator("tbody tr.critical form[action$='/acknowledge'] button").click()
        page.wait_for_load_state()

        page.goto(f"{hub.url}/inbox")
        page.locator("tbody a", has_text="Ada Lovelace").first.click()
        page.wait_for_url(f"{hub.url}/inbox/patients/{linked.did}")
        body = page.locator("main").inner_text()
        assert "Ada Lovelace" in body and MRN in body and "1961-04-09" in body and "the linked EHR chart" in body
        assert page.locator("svg.chart").count() >= 4  # risk, wear, PHQ-9, sleep midpoint
        titles = page.locator("svg.chart > title").all_text_contents()
        assert any("risk" in t for t in titles) and any("clock time" in t for t in titles)
        assert "risk (%)" in page.content() and "PHQ-9 (0-27)" in page.content()
        assert "pathway depression-mbc 2026.12.0" in body and "model mb-test 1.0.0" in body
        assert "rule item9-positive" in body and "acknowledged by alice" in body
        assert "Complete the PHQ-9 questionnaire: requested by alice" in body
        assert "Same-day suicide-risk assessment" in body
        assert _serious(page) == []
        page.screenshot(path=str(OUT / "patient.png"), full_page=True)
        browser.close()
    # the request reached the EHR as a Task the patient owns, naming the PHQ-9 questionnaire
    asked = hub.wait_for("the PHQ-9 Task in the EHR", lambda: [
        t for t in ehr.search("Task", {"patient": f"Patient/{chart['id']}"})
        if any(c.get("code") == "phq9" for c in t.get("code", {}).get("coding", []))])
    assert len(asked) == 1 and asked[0]["owner"] == {"reference": f"Patient/{chart['id']}"}
    assert asked[0]["input"][0]["valueCanonical"] == "http://loinc.org/q/44249-1"
    assert asked[0]["priority"] == "stat" and asked[0]["requester"] == {"display": "alice"}
    for shot in ("login", "inbox", "patient"):
        assert (OUT / f"{shot}.png").stat().st_size > 10_000
