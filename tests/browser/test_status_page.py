"""The public status page in a real browser (issue 14), against a real ``opsbook serve``: no
login; a maintenance window shows as scheduled, then under maintenance; the check's target
goes down and the page shows the component down and the incident within seconds (the page
has no script: the test reloads, as a visitor would); a responder's update posted through
the API appears; resolved, the page is operational again and today's bar shows the outage.

Screenshots at 1280 and 360 px go to tests/browser/artifacts/ (status-*.png); axe-core finds
no serious violation and the strict CSP reports nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import admin_server, assert_accessible, screenshots

from paging_servers import Target
from serving import Server, api_token

WAIT_S = 30.0
TITLE = "The shop is down"
# The window opens a few seconds after the server starts and closes soon after, so the test
# sees it scheduled, in progress, and then out of the way of the outage's headline.
OPENS_AFTER = timedelta(seconds=15)
LASTS = timedelta(seconds=10)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('status-page') / 'opsbook.db'}"


@pytest.fixture(scope="module")
def server(store_url: str, target: Target) -> Iterator[Server]:
    folder = Path(store_url.removeprefix("sqlite:///")).parent
    # A live server keeps real time: the window is placed around the moment it starts.
    opens = datetime.now(UTC) + OPENS_AFTER
    with admin_server(
        folder,
        f"""
service: shop
severities:
  SEV1: {{respond_within: 15m, page: true, status_impact: major_outage}}
components:
  web: {{name: Website, group: Storefront, checks: [web]}}
  cart: {{name: Cart, group: Storefront}}
  db: {{name: Database, description: Orders and customers}}
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
maintenance:
  db-upgrade:
    start: "{opens.isoformat()}"
    end: "{(opens + LASTS).isoformat()}"
    components: [db]
    description: Database upgrade to PostgreSQL 17
status_page:
  title: Shop status
  links: [{{label: Help, url: "https://shop.example/help"}}]
""",
        store_url=store_url,
    ) as running:
        running.token = api_token(store_url, person="ana")
        yield running


def _until(page: Any, url: str, ready: Callable[[], bool], what: str) -> None:
    """Reload ``url`` until ``ready()`` holds (the page has no script that would update it)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        page.goto(url)
        if ready():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S:.0f}s: {what}\n{page.inner_text('main')}")
        time.sleep(0.3)


def _status_of(page: Any, component: str) -> str:
    return str(page.inner_text(f"#component-{component} .status"))


def test_the_public_page_follows_maintenance_and_an_outage(
    server: Server, target: Target, page: Any, axe_source: str
) -> None:
    url = server.url + "/status/"
    # No login: a fresh browser context with no session reads the page.
    page.goto(server.url + "/status")
    assert page.url == url
    assert page.inner_text(".banner") == "All Systems Operational"
    assert "Database upgrade to PostgreSQL 17" in page.inner_text(
        "section[aria-labelledby=scheduled-h]"
    )
    assert page.locator("#component-web .bar").count() == 90
    # Cart has no check: its days are no data, never drawn as up.
    assert page.locator("#component-cart .bar.none").count() == 90
    assert page.get_attribute("#component-cart .bar:last-child", "title").endswith(": no data")
    assert_accessible(page, axe_source)
    screenshots(page, "status-scheduled")

    _until(
        page,
        url,
        lambda: _status_of(page, "db") == "Under Maintenance",
        "the window opens and the database shows under maintenance",
    )
    assert "Maintenance in progress" in page.inner_text("main")
    assert page.inner_text(".banner") == "Service Under Maintenance"
    screenshots(page, "status-maintenance")

    target.failing = True
    down_at = time.monotonic()
    _until(
        page,
        url,
        lambda: _status_of(page, "web") == "Major Outage" and TITLE in page.inner_text("main"),
        "the website shows a major outage and the incident",
    )
    assert time.monotonic() - down_at < 15
    assert "Active incidents" in page.inner_text("main")
    assert page.inner_text(".banner") == "Major System Outage" or "Outage" in page.inner_text(
        ".banner"
    )

    status, unresolved = server.request_json("GET", "/api/v2/incidents/unresolved.json")
    assert status == 200 and len(unresolved["incidents"]) == 1
    incident_id = unresolved["incidents"][0]["id"]
    status, _ = server.request_json(
        "POST",
        f"/api/v1/incidents/{incident_id}/updates",
        {"status": "identified", "message": "A bad deploy; rolling back."},
    )
    assert status == 200
    _until(
        page,
        url,
        lambda: "A bad deploy; rolling back." in page.inner_text(f"#incident-{incident_id}"),
        "the responder's update appears",
    )
    assert_accessible(page, axe_source)
    screenshots(page, "status-outage")

    target.failing = False
    status, _ = server.request_json(
        "POST",
        f"/api/v1/incidents/{incident_id}/updates",
        {"status": "resolved", "message": "Rolled back; all good."},
    )
    assert status == 200
    _until(
        page,
        url,
        lambda: (
            page.inner_text(".banner") == "All Systems Operational"
            and _status_of(page, "web") == "Operational"
        ),
        "the page returns to operational once the window closed and the incident resolved",
    )
    assert "Active incidents" not in page.inner_text("main")
    assert "Rolled back; all good." in page.inner_text("section[aria-labelledby=past-h]")
    today = page.locator("#component-web .bar").last
    assert today.get_attribute("class") in ("bar minor", "bar partial", "bar major")
    assert TITLE in today.get_attribute("title")
    screenshots(page, "status-resolved")

    page.click("text=Incident history")
    assert page.url == url + "history/"
    assert page.locator(f"#incident-{incident_id}").count() == 1
    assert "Database upgrade to PostgreSQL 17" in page.inner_text("main")
    assert_accessible(page, axe_source)
    screenshots(page, "status-history")
    assert page.problems == []
