"""The alerts, silences, on-call, notifications, audit, check and runbook pages in a real
browser (issues 12 and 13): each is screenshotted at 1280 and 360 px into
tests/browser/artifacts/ and checked with axe-core (no serious or critical violation) and for
console errors (CSP included); a silence is made from an alert and expired, a dead letter
retried, and the check page's uPlot chart draws under the page's CSP. One ``opsbook serve``
for the module (conftest.py), and one with a runbooks folder for the runbook pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import ADMIN, PASSWORD, admin_server, assert_accessible, screenshots

from alert_helpers import open_rule_alert
from opsbook.notify import outbox
from opsbook.store import create_engine
from serving import Server

WAIT_MS = 20_000
REASON = "answered 410 Gone (the webhook was deleted)"


def store_url(server: Server) -> str:
    """The SQLite store next to the config the server was started with (conftest.py)."""
    args = list(server.process.args)
    config = Path(args[args.index("--config") + 1])
    return f"sqlite:///{config.parent / 'opsbook.db'}"


@pytest.fixture(scope="module")
def seeded(server: Server) -> Iterator[Server]:
    """A firing alert and a dead letter, written to the running server's store."""
    engine = create_engine(store_url(server))
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            open_rule_alert(
                conn,
                "payments-down",
                check="payments",
                labels={"service": "payments", "env": "prod"},
                now=now - timedelta(minutes=7),
                values={},
            )
            row = outbox.enqueue(
                conn,
                channel="ops-webhook",
                kind="alert",
                payload={},
                idempotency_key="browser-dead-1",
                now=now,
            )
            assert row is not None
            outbox.claim_due(conn, now=now, limit=10, lease=timedelta(minutes=1))
            outbox.mark_dead(conn, row, reason=REASON, now=now)
    finally:
        engine.dispose()
    yield server


def log_in(page: Any, server: Server, path: str) -> None:
    page.goto(server.url + path)
    page.fill("#person", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + path)


def check(page: Any, name: str, axe_source: str) -> None:
    screenshots(page, name)
    assert_accessible(page, axe_source)
    assert not page.problems, page.problems


def test_alerts_silence_one_and_expire_it(page: Any, seeded: Server, axe_source: str) -> None:
    log_in(page, seeded, "/alerts")
    row = page.locator("table.alerts tbody tr", has_text="payments-down")
    row.wait_for()
    check(page, "alerts", axe_source)
    page.fill("#filter", 'service="payments", env=~"pro.*"')
    page.click("form.filter button")
    row.wait_for()
    row.get_by_role("link", name="Silence").click()
    page.wait_for_url("**/silences/new?**")
    assert 'service="payments"' in page.input_value("#matchers")
    page.fill("#comment", "card processor maintenance")
    check(page, "silence-new", axe_source)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(seeded.url + "/silences")
    active = page.locator('tr[data-state="active"]', has_text="card processor maintenance")
    active.wait_for()
    check(page, "silences", axe_source)
    active.get_by_role("button", name="Expire").click()
    page.wait_for_url(seeded.url + "/silences")
    page.locator('tr[data-state="expired"]', has_text="card processor maintenance").wait_for()
    assert not page.problems, page.problems


def test_notifications_retry_a_dead_letter(page: Any, seeded: Server, axe_source: str) -> None:
    log_in(page, seeded, "/notifications")
    row = page.locator("tr", has_text=REASON)
    row.wait_for()
    check(page, "notifications", axe_source)
    row.get_by_role("button", name="Retry").click()
    page.wait_for_url(seeded.url + "/notifications")
    assert page.locator("tr", has_text=REASON).count() == 0
    assert not page.problems, page.problems


def test_oncall_and_audit(page: Any, seeded: Server, axe_source: str) -> None:
    log_in(page, seeded, "/oncall")
    assert "Ana Admin" in page.inner_text(".now-oncall")
    check(page, "oncall", axe_source)
    page.goto(seeded.url + "/audit")
    page.locator("table.audit").wait_for()
    check(page, "audit", axe_source)


def test_the_check_page_draws_its_chart_under_the_csp(
    page: Any, seeded: Server, axe_source: str
) -> None:
    log_in(page, seeded, "/")
    page.click('a[href="/checks/web"]')
    page.wait_for_url(seeded.url + "/checks/web")
    page.locator("#latency-chart canvas").wait_for(timeout=WAIT_MS)
    assert page.locator("svg.bars rect").count() == 144
    # The cursor's time is on the 24-hour clock, in the config's timezone, as on the rest of
    # the page (uPlot's own is "12/6/26 5:13pm").
    box = page.locator("#latency-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    shown = page.locator("#latency-chart .u-legend .u-series").first.inner_text()
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", shown), shown
    check(page, "check", axe_source)
    page.click("nav.windows >> text=1h")
    page.wait_for_url("**/checks/web?window=1h")
    page.locator("#latency-chart canvas").wait_for(timeout=WAIT_MS)
    assert page.locator("svg.bars rect.bar-up").count() >= 1
    # Dark mode: the chart reads its colours from the stylesheet when it draws.
    page.emulate_media(color_scheme="dark")
    page.reload()
    page.locator("#latency-chart canvas").wait_for(timeout=WAIT_MS)
    check(page, "check-dark", axe_source)


RUNBOOK = """\
---
title: Database pool exhausted
tags: [db]
parameters:
  minutes: {type: int, default: 5, allowed: [5, 10], description: How far back}
---
# Database pool exhausted

## Diagnose

```sh {name=pool-usage timeout=10s}
psql -c "SELECT count(*) FROM pg_stat_activity"
```

## Fix

```sh {name=restart-api}
kubectl rollout restart deployment/api
```

```sh {name=drop-sessions risk=danger}
psql -c "TRUNCATE sessions"
```

- [ ] Tell the channel what was restarted
"""


@pytest.fixture(scope="module")
def with_runbooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``opsbook serve`` with a runbooks folder beside its config: one runbook that loads and
    one that does not (the list shows its error)."""
    folder = tmp_path_factory.mktemp("serve-runbooks")
    runbooks = folder / "runbooks"
    runbooks.mkdir()
    (runbooks / "db-pool.md").write_text(RUNBOOK, encoding="utf-8")
    (runbooks / "broken.md").write_text("```sh {name=x risk=maybe}\necho\n```\n")
    with admin_server(folder, "service: shop\n") as running:
        yield running


def test_runbooks_list_and_one_runbook(page: Any, with_runbooks: Server, axe_source: str) -> None:
    log_in(page, with_runbooks, "/runbooks")
    assert "runbooks/broken.md:1:" in page.inner_text("#load-errors")
    check(page, "runbooks", axe_source)
    page.click('a[href="/runbooks/db-pool"]')
    page.wait_for_url(with_runbooks.url + "/runbooks/db-pool")
    assert "TRUNCATE sessions" in page.inner_text("#step-drop-sessions pre")
    check(page, "runbook", axe_source)
