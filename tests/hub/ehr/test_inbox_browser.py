"""The inbox page in a real browser (Debian's Chromium driven by Playwright): sign in, read the queue in tier
order, snooze an urgent item with a reason, acknowledge one, record feedback, and find that the critical
item-9 item offers no snooze and refuses a forged one. Cross-site and token-less form posts are refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ehr_world import ServedHub, served_hub

from hub.service.hubworld import phq9

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install -y chromium")]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServedHub]:
    """A served hub with three patients: PHQ-9 item 9 positive and severe, severe, moderately severe."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = now.date()
    with served_hub(tmp_path) as served:
        for total, item9 in ((22, 1), (23, 0), (16, 0)):
            kit = served.enrol(now)
            served.send([kit.day(today, served.to, p=0.2, surveys=[phq9(today, total, item9)])])
        with served.client(served.clinician) as api:
            served.wait_for("four queue items", lambda: sum(len(v) for v in api.get("/queue").json().values()) == 4)
        yield served


def _items(served: ServedHub) -> dict[str, dict[str, Any]]:
    with served.client(served.clinician) as api:
        queue = api.get("/queue").json()
    return {i["id"]: i for i in queue["interruptive"] + queue["digest"]}


def test_inbox_in_chromium(hub: ServedHub, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{hub.url}/inbox/login")
        page.fill("#token", hub.clinician)
        page.click("button[type=submit]")
        page.wait_for_url(f"{hub.url}/inbox")
        tables = page.locator("table")
        now_tiers = tables.nth(0).locator("tbody tr td.tier").all_inner_texts()
        assert [t.split()[0].lower() for t in now_tiers] == ["critical", "urgent", "urgent"]
        assert [t.lower() for t in tables.nth(1).locator("tbody tr td.tier").all_inner_texts()] == ["routine"]

        critical = tables.nth(0).locator("tbody tr").nth(0)
        assert "never suppressed" in critical.inner_text()
        assert critical.locator("form[action$='/snooze']").count() == 0
        assert "Cannot be snoozed" in critical.locator(".locked").inner_text()
        critical_id = critical.get_attribute("id")
        token = critical.locator("input[name=csrf]").first.get_attribute("value")
        assert critical_id and token

        urgent = tables.nth(0).locator("tbody tr.urgent")
        first, second = urgent.nth(0).get_attribute("id"), urgent.nth(1).get_attribute("id")
        row = page.locator(f"tr[id='{first}']")
        row.locator("select[name=hours]").select_option("4")
        row.locator("input[name=reason]").first.fill("waiting for the lab results")
        row.locator("form[action$='/snooze'] button").click()
        page.wait_for_load_state()
        assert page.locator(f"tr[id='{first}']").count() == 0, "a snoozed item leaves the page until it wakes"
        page.locator(f"tr[id='{second}'] form[action$='/acknowledge'] button").click()
        page.wait_for_load_state()
        assert page.locator(f"tr[id='{second}']").count() == 0

        routine = tables.nth(1).locator("tbody tr").nth(0)
        routine_id = routine.get_attribute("id")
        routine.locator("select[name=outcome]").select_option("overridden")
        routine.locator("form[action$='/feedback'] input[name=reason]").fill("already under specialist care")
        routine.locator("form[action$='/feedback'] button").click()
        page.wait_for_load_state()
        page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)

        # Forged posts from the page's own session: the snooze is refused by policy, the token-less and the
        # cross-site ones by the CSRF checks (Playwright's request context shares the browser's cookies).
        forged = page.request.post(f"{hub.url}/inbox/items/{critical_id}/snooze",
                                   form={"csrf": token, "hours": "1", "reason": "busy"}, max_redirects=0)
        assert forged.status == 409 and "never-suppressed" in forged.text()
        tokenless = page.request.post(f"{hub.url}/inbox/items/{critical_id}/acknowledge", form={"csrf": ""},
                                      max_redirects=0)
        assert tokenless.status == 403 and "CSRF" in tokenless.text()
        cross_site = page.request.post(f"{hub.url}/inbox/items/{critical_id}/acknowledge", form={"csrf": token},
                                       headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                                       max_redirects=0)
        assert cross_site.status == 403
        browser.close()

    assert (tmp_path / "inbox.png").stat().st_size > 10_000
    items = _items(hub)
    assert first not in items and second not in items and critical_id in items
    with hub.client(hub.admin) as admin:
        rates = {r["rule_id"]: r for r in admin.get("/admin/override-rates").json()}
        audit = admin.get("/admin/audit", params={"limit": 5000}).text
    assert rates["phq9-moderately-severe"]["overridden"] == 1 and routine_id
    assert "waiting for the lab results" in audit and "triage.acknowledge" in audit
