"""Running a runbook in a real browser (issue 13): start the site-down runbook from its page,
watch the read step's output appear while it runs (no reload), confirm the write step, tick
the manual step with a note, ask for an approval of the danger step (the requester is not
offered Approve), then find the run on /runs.

The runbook page, the run page and /runs are screenshotted at 1280 and 360 px into
tests/browser/artifacts/ and checked with axe-core; a console error (a CSP violation
included) fails. This module runs its own ``opsbook serve`` with a runbooks folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import ADMIN, PASSWORD, admin_server, assert_accessible, screenshots

from serving import Server

WAIT_MS = 20_000
SITE_DOWN = """\
---
title: Site down
parameters:
  env: {allowed: [prod, staging], default: prod, description: Which deployment to look at}
  probes: {type: int, default: 3, description: How many probes to send}
---
# Site down

## Look

```sh {name=probe}
for i in $(seq 1 {{ probes }}); do
  echo "probe $i of {{ env }}: HTTP 503 <upstream>"; sleep 0.4
done
```

## Fix

```sh {name=restart risk=write}
echo "restarted web on {{ env }}"
```

- [ ] Tell #ops that the site is back

```sh {name=purge-cache risk=danger}
echo "cache purged"
```
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("runs")
    (folder / "runbooks").mkdir()
    (folder / "runbooks" / "site-down.md").write_text(SITE_DOWN, encoding="utf-8")
    with admin_server(
        folder,
        """
service: shop
oncall:
  people:
    ana: {name: Ana Admin}
  schedules:
    primary: {layers: [{rotation: weekly, people: [ana]}]}
""",
    ) as running:
        yield running


def log_in(page: Any, server: Server) -> None:
    page.goto(server.url + "/login")
    page.fill("#person", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")


def check_page(page: Any, axe_source: str, name: str) -> None:
    screenshots(page, name)
    assert_accessible(page, axe_source)


def test_a_runbook_is_run_from_the_browser(
    page: Any, server: Server, axe_source: str, tmp_path: Path
) -> None:
    log_in(page, server)
    page.click('nav a:has-text("Runbooks")')
    page.click('a:has-text("Site down")')
    page.wait_for_url(server.url + "/runbooks/site-down")
    page.select_option("#param-env", "staging")
    check_page(page, axe_source, "runbook-run-form")
    page.click('#run button[type=submit]:has-text("Start run")')
    page.wait_for_url(f"{server.url}/runs/*")
    run_url = page.url
    # A marker that a reload would lose: the output must arrive without one.
    page.evaluate("window.stillHere = true")
    output = page.locator("#step-probe .run-output")
    output.filter(has_text="probe 1 of staging").wait_for(timeout=WAIT_MS)
    page.locator('#step-probe[data-state="ok"]').wait_for(timeout=WAIT_MS)
    assert "probe 3 of staging: HTTP 503 <upstream>" in output.inner_text()
    assert page.evaluate("window.stillHere") is True

    restart = page.locator('#step-restart[data-state="waiting_confirmation"]')
    restart.wait_for(timeout=WAIT_MS)
    assert page.locator("#run-state").inner_text() == "waiting"
    check_page(page, axe_source, "run-waiting")
    restart.locator('button:has-text("Confirm restart")').click()
    page.locator('#step-restart[data-state="ok"]').wait_for(timeout=WAIT_MS)
    assert "restarted web on staging" in page.locator("#step-restart .run-output").inner_text()
    assert "confirmed by user:ana" in page.locator("#step-restart").inner_text()

    manual = page.locator("#step-step-3")
    manual.locator("input[name=note]").fill("posted in #ops at 14:02")
    manual.locator('button:has-text("Done")').click()
    page.locator('#step-step-3[data-state="done"]').wait_for(timeout=WAIT_MS)
    assert "Note: posted in #ops at 14:02" in page.locator("#step-step-3").inner_text()
    assert "done by user:ana" in page.locator("#step-step-3").inner_text()

    danger = page.locator('#step-purge-cache[data-state="waiting_approval"]')
    danger.wait_for(timeout=WAIT_MS)
    danger.locator('button:has-text("Request approval")').click()
    page.locator("#step-purge-cache .approval").wait_for(timeout=WAIT_MS)
    text = page.locator("#step-purge-cache").inner_text()
    assert "You asked for this approval: another person must approve it." in text
    assert page.locator('#step-purge-cache button:has-text("Approve")').count() == 0
    check_page(page, axe_source, "run-approval")

    page.click('nav a:has-text("Runs")')
    page.wait_for_url(server.url + "/runs")
    page.locator(f'a[href="{run_url.removeprefix(server.url)}"]').wait_for()
    check_page(page, axe_source, "runs")
    assert page.problems == []
