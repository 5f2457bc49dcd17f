"""``/``: the overview renders every check's state and figures, alerts, incidents and on-call,
from a bounded number of queries whatever the number of checks (issue 12), both stores."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from ui_helpers import CONFIG, NOW, log_in, migrate, ui_client

from opsbook.checks import service as checks_service
from opsbook.checks.models import ProbeResult, State
from opsbook.incidents import service as incidents_service
from opsbook.store import create_engine


def record(url: str, results: list[ProbeResult]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            checks_service.record_results(
                conn,
                results=results,
                intervals={r.check_id: timedelta(seconds=30) for r in results},
            )
    finally:
        engine.dispose()


def api_results(*, down_for: timedelta) -> list[ProbeResult]:
    """api: every 30 s for 2 h at 20 ms, then down (2 s) for the last ``down_for``."""
    found = []
    for i in range(240):
        at = NOW - timedelta(hours=2) + i * timedelta(seconds=30)
        down = at >= NOW - down_for
        found.append(
            ProbeResult(
                check_id="api",
                started_at=at,
                state=State.DOWN if down else State.UP,
                latency_ms=2000.0 if down else 20.0,
                error="status 500 (want 200)" if down else None,
                status=500 if down else 200,
            )
        )
    return found


def row_of(html: str, check_id: str) -> str:
    found = re.search(rf'<tr id="check-{check_id}".*?</tr>', html, re.S)
    assert found is not None, f"no row for {check_id}"
    return found.group(0)


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    migrate(store_url)
    for client in ui_client(store_url):
        log_in(client)
        yield client


def test_it_shows_each_checks_state_latency_slo_and_availability(
    client: TestClient, store_url: str
) -> None:
    record(store_url, api_results(down_for=timedelta(minutes=30)))
    html = client.get("/").text
    api = row_of(html, "api")
    assert 'data-state="down"' in api
    assert "status 500 (want 200)" in api
    assert "for 30m" in api
    assert "<polyline points=" in api
    # p95 over the last 24 hours is 2 s against a 50 ms objective: missed.
    assert "slo-miss" in api and "/ 50 ms missed" in api
    assert "75 %" in api  # 90 of 120 minutes up
    db = row_of(html, "db")
    assert 'data-state="no data"' in db
    assert "1 down" in html and "1 no data" in html
    # Down checks come first.
    assert html.index('id="check-api"') < html.index('id="check-db"')


def test_a_check_in_an_open_maintenance_window_shows_maintenance(store_url: str) -> None:
    migrate(store_url)
    record(store_url, api_results(down_for=timedelta(minutes=5)))
    config: dict[str, Any] = {
        **CONFIG,
        "maintenance": {
            "upgrade": {
                "start": (NOW - timedelta(hours=1)).isoformat(),
                "end": (NOW + timedelta(hours=1)).isoformat(),
                "checks": ["api"],
            }
        },
    }
    for client in ui_client(store_url, config=config):
        log_in(client)
        assert 'data-state="maintenance"' in row_of(client.get("/").text, "api")


def test_it_lists_open_incidents_with_their_links_and_who_is_on_call(
    client: TestClient, store_url: str
) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            found = incidents_service.declare(
                conn, title="Checkout <down>", severity="SEV1", actor="user:ana", now=NOW
            )
    finally:
        engine.dispose()
    html = client.get("/").text
    assert f'<a href="/incidents/{found.id}">#{found.id} Checkout &lt;down&gt;</a>' in html
    assert "not acknowledged" in html
    assert "Ana Silva" in html or "Ben Okafor" in html
    assert "Nothing firing." in html


def test_the_number_of_queries_does_not_grow_with_the_number_of_checks(store_url: str) -> None:
    def queries_for(n_checks: int) -> int:
        checks = {
            f"c{i}": {"http": {"url": f"http://127.0.0.1:1/{i}"}, "every": "30s"}
            for i in range(n_checks)
        }
        record(
            store_url,
            [
                ProbeResult(
                    check_id=f"c{i}",
                    started_at=NOW - timedelta(minutes=1),
                    state=State.UP,
                    latency_ms=10.0,
                )
                for i in range(n_checks)
            ],
        )
        for client in ui_client(store_url, config={**CONFIG, "checks": checks}):
            log_in(client)
            engine = client.app.state.services.engine  # type: ignore[attr-defined]
            seen: list[str] = []

            def count(*args: object, into: list[str] = seen) -> None:
                into.append(str(args[2]))

            sa.event.listen(engine, "before_cursor_execute", count)
            assert client.get("/").status_code == 200
            return len(seen)
        raise AssertionError("no client")

    migrate(store_url)
    assert queries_for(3) == queries_for(40)


def test_the_page_escapes_what_it_shows_and_is_never_cached(client: TestClient) -> None:
    response = client.get("/")
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text
    assert 'src="/static/ui/live.js' in response.text
