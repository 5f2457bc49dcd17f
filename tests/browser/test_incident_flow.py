"""The incident path in a real browser (issue 12): log in, the check's target goes down, the
overview turns red and shows the incident ``site-down`` declared, without a reload; open the
incident from its link, acknowledge it, post an update, see a note written elsewhere appear
in the timeline without a reload, resolve it, log out.

The incidents list and the incident page are screenshotted at 1280 and 360 px (and dark) into
tests/browser/artifacts/ and checked with axe-core; a console error (a CSP violation included)
fails. This module runs its own ``opsbook serve`` with an alert rule that declares incidents.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import ADMIN, PASSWORD, admin_server, assert_accessible, screenshots

from opsbook.incidents import service as incidents
from opsbook.store import create_engine
from paging_servers import Pager, Target
from serving import Server

WAIT_MS = 30_000
TITLE = "The shop is down"


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('incident-flow') / 'opsbook.db'}"


@pytest.fixture(scope="module")
def pager() -> Iterator[Pager]:
    found = Pager()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def server(store_url: str, target: Target, pager: Pager) -> Iterator[Server]:
    """``opsbook serve`` checking ``target`` every second; ``site-down`` fires after two
    failures as SEV1, which declares an incident and starts the ``default`` escalation (which
    pages Ana through a webhook to ``pager``)."""
    folder = Path(store_url.removeprefix("sqlite:///")).parent
    with admin_server(
        folder,
        f"""
service: shop
timezone: Europe/Lisbon
severities:
  SEV1: {{respond_within: 15m, page: true, escalation: default}}
  SEV3: {{respond_within: 4h}}
checks:
  web:
    http: {{url: "{target.url}"}}
    every: 1s
    timeout: 500ms
alerts:
  site-down:
    when: web down
    for: 2 failures
    severity: SEV1
    annotations: {{summary: "{TITLE}"}}
alerting:
  evaluate_every: 1s
oncall:
  people:
    ana: {{name: Ana Admin, notify: [pager]}}
  schedules:
    primary: {{layers: [{{rotation: weekly, people: [ana]}}]}}
  escalation:
    default:
      - {{notify: [schedule:primary], wait: 10m}}
channels:
  pager:
    webhook: {{url: "{pager.url}"}}
""",
        store_url=store_url,
    ) as running:
        yield running


def add_note_elsewhere(store_url: str, incident_id: int, message: str) -> None:
    """A note written by another process (as the CLI or a teammate's browser would)."""
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            incidents.add_note(
                conn,
                incident_id,
                message=message,
                actor="user:ben",
                now=datetime.now(UTC),
                origin="test",
            )
    finally:
        engine.dispose()


def check_page(page: Any, axe_source: str, name: str) -> None:
    screenshots(page, name)
    assert_accessible(page, axe_source)


def test_an_outage_becomes_an_incident_that_is_acknowledged_updated_and_resolved(
    page: Any, server: Server, target: Target, axe_source: str, store_url: str
) -> None:
    page.goto(server.url + "/")
    page.fill("#person", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    page.locator('#check-web[data-state="up"]').wait_for(timeout=WAIT_MS)
    page.evaluate("window.__sameDocument = true")  # a reload would drop it

    target.failing = True
    try:
        page.locator('#check-web[data-state="down"]').wait_for(timeout=WAIT_MS)
        link = page.locator(f'#live-incidents a:has-text("{TITLE}")')
        link.wait_for(timeout=WAIT_MS)
        assert page.evaluate("window.__sameDocument === true")
        assert "banner bad" in page.inner_html("#live-summary")
        href = link.get_attribute("href")
        assert href is not None and re.fullmatch(r"/incidents/\d+", href)
        incident_id = int(href.rsplit("/", 1)[1])

        link.click()
        page.wait_for_url(server.url + href)
        state = page.locator("#live-incident-state")
        assert "SEV1" in state.inner_text() and "not acknowledged" in state.inner_text().lower()
        timeline = page.locator("#live-timeline")
        assert "declared" in timeline.inner_text()
        assert "alert site-down firing" in timeline.inner_text()
        page.locator("#live-escalations .esc-active").wait_for(timeout=WAIT_MS)
        check_page(page, axe_source, "incident-declared")

        page.click("#form-ack button[type=submit]")
        page.locator('#live-incident-state[data-acknowledged="yes"]').wait_for()
        assert page.url == server.url + href  # back on the page (post/redirect/get)
        assert page.locator("#form-ack").count() == 0
        assert "acknowledged" in page.locator("#live-timeline li").last.inner_text()

        page.select_option("#update-status", "identified")
        page.fill("#update-message", "bad deploy 1.4; rolling back")
        page.click("#form-update summary")
        page.fill("#update-eta", "15m")
        page.click("#form-update button[type=submit]")
        page.locator('#live-incident-state[data-status="identified"]').wait_for()
        last = page.locator("#live-timeline li").last
        assert "identified: bad deploy 1.4; rolling back" in last.inner_text()
        assert "15m" in last.inner_text()

        # Written by another process: the open page shows it without a reload.
        page.evaluate("window.__sameDocument = true")
        add_note_elsewhere(store_url, incident_id, "customers confirm checkout fails")
        page.locator('#live-timeline li:has-text("customers confirm checkout fails")').wait_for(
            timeout=WAIT_MS
        )
        assert page.evaluate("window.__sameDocument === true")
        check_page(page, axe_source, "incident-detail")

        # Escalate on request: the server's incidents task pages the next level (here the
        # policy's only one, again), acknowledged or not.
        page.fill("#escalate-reason", "card data may have leaked")
        page.click("#form-escalate button[type=submit]")
        paged = page.locator('#live-timeline li:has-text("escalated by user:ana without waiting")')
        paged.wait_for(timeout=WAIT_MS)
        assert "paged Ana Admin" in paged.inner_text()
        timeline = page.locator("#live-timeline").inner_text()
        assert "escalation asked for: card data may have leaked" in timeline
    finally:
        target.failing = False

    page.fill("#resolve-message", "rolled back to 1.3")
    page.click("#form-resolve button[type=submit]")
    page.locator('#live-incident-state[data-status="resolved"]').wait_for()
    assert "resolved: rolled back to 1.3" in page.locator("#live-timeline li").last.inner_text()
    assert page.locator("#form-reopen").count() == 1
    check_page(page, axe_source, "incident-resolved")
    page.emulate_media(color_scheme="dark")
    check_page(page, axe_source, "incident-resolved-dark")
    page.emulate_media(color_scheme="light")

    page.goto(server.url + "/incidents?show=all")
    row = page.locator(f"#incident-{incident_id}")
    assert "resolved" in row.inner_text() and TITLE in row.inner_text()
    check_page(page, axe_source, "incidents-all")
    page.click('a:has-text("Open")')
    page.wait_for_url(server.url + "/incidents")
    check_page(page, axe_source, "incidents-open")

    page.goto(f"{server.url}/incidents/{incident_id}/postmortem")
    assert TITLE in page.inner_text("pre.postmortem")
    check_page(page, axe_source, "incident-postmortem")

    page.goto(server.url + "/incidents/999999")
    assert "no incident with id 999999" in page.inner_text("main")
    check_page(page, axe_source, "incident-not-found")

    page.click("text=Log out")
    page.wait_for_url(server.url + "/login")
    page.goto(server.url + href)
    assert f"/login?next={href}" in page.url
    assert not page.problems, page.problems
