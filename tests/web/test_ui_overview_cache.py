"""The overview is read once for every viewer (``overview_cache``): a state change shows at
once, new results alone and rollup figures after their time to live, both stores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from test_ui_overview import api_results, record, row_of
from ui_helpers import NOW, log_in, migrate, ui_client

from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.web.ui.overview_data import STATS_TTL_S, states_marker


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    migrate(store_url)
    for client in ui_client(store_url):
        log_in(client)
        yield client


def clock_of(client: TestClient) -> FrozenClock:
    clock = client.app.state.services.clock  # type: ignore[attr-defined]
    assert isinstance(clock, FrozenClock)
    return clock


def down_now(check_id: str) -> ProbeResult:
    return ProbeResult(
        check_id=check_id,
        started_at=NOW,
        state=State.DOWN,
        latency_ms=2000.0,
        error="status 503 (want 200)",
        status=503,
    )


def up_at(check_id: str, at: datetime) -> ProbeResult:
    return ProbeResult(check_id=check_id, started_at=at, state=State.UP, latency_ms=20.0)


def test_a_state_change_shows_at_once(client: TestClient, store_url: str) -> None:
    record(store_url, api_results(down_for=timedelta(0)))
    assert 'data-state="up"' in row_of(client.get("/").text, "api")
    record(store_url, [down_now("api")])
    row = row_of(client.get("/").text, "api")
    assert 'data-state="down"' in row
    assert "status 503 (want 200)" in row


def test_a_late_state_change_shows_at_once(client: TestClient, store_url: str) -> None:
    """A slow probe that started before the newest recorded change turns its check down after
    it: the newest ``changed_at`` does not move, the page must still show it at once."""
    record(
        store_url,
        [up_at("api", NOW - timedelta(minutes=1)), up_at("db", NOW - timedelta(minutes=1))],
    )
    record(store_url, [down_now("api")])
    assert 'data-state="up"' in row_of(client.get("/").text, "db")
    record(store_url, [replace(down_now("db"), started_at=NOW - timedelta(seconds=10))])
    assert 'data-state="down"' in row_of(client.get("/").text, "db")


def test_figures_are_read_again_after_their_time_to_live(
    client: TestClient, store_url: str
) -> None:
    # Down for the last 30 minutes of 2 hours: the state changes with the first down result.
    results = api_results(down_for=timedelta(minutes=30))
    record(store_url, results[:200])
    row = row_of(client.get("/").text, "api")
    # 20 of 200 results down: 90 % of the time observed.
    assert 'data-state="down"' in row
    assert '<td class="num" data-label="24 h">90 %</td>' in row
    # New results that change no state: the figures are kept until they are STATS_TTL_S old ...
    record(store_url, results[200:])
    row = row_of(client.get("/").text, "api")
    assert 'data-state="down"' in row and '<td class="num" data-label="24 h">90 %</td>' in row
    clock_of(client).advance(timedelta(seconds=STATS_TTL_S + 1))
    # ... and then the recent hours and days are read again (24 h, then 30 d): 60 of 240 down.
    row = row_of(client.get("/").text, "api")
    assert '<td class="num" data-label="24 h">75 %</td>' in row
    assert '<td class="num wide">75 %</td>' in row


def test_a_state_change_reads_the_figures_again_at_once(client: TestClient, store_url: str) -> None:
    """A check shown down beside the availability from before it went down ("100 %")
    contradicts itself: the change reads the figures again, before their time to live."""
    results = api_results(down_for=timedelta(minutes=30))
    record(store_url, results[:180])
    assert '<td class="num" data-label="24 h">100 %</td>' in row_of(client.get("/").text, "api")
    record(store_url, results[180:181])
    row = row_of(client.get("/").text, "api")
    # One result of 181 down, 30 s of 5,430: 99.448 %.
    assert 'data-state="down"' in row
    assert '<td class="num" data-label="24 h">99.448 %</td>' in row
    assert '<td class="num wide">99.448 %</td>' in row


def test_states_marker_is_the_check_state_part_of_the_version() -> None:
    # The timestamp has dots of its own; the alert, incident and audit ids are cut from the right.
    version = "2026-12-06T10:00:00.250000+00:00.12.7.3.9"
    assert states_marker(version) == "2026-12-06T10:00:00.250000+00:00.12"
    assert states_marker("-.0.0.0.0") == "-.0"
