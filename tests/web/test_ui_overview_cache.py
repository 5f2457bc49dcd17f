"""The overview is read once for every viewer (``overview_cache``): a state change shows at
once, new results alone and rollup figures after their time to live, both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from test_ui_overview import api_results, record, row_of
from ui_helpers import NOW, log_in, migrate, ui_client

from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.web.ui.overview_data import STATS_TTL_S


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


def test_a_state_change_shows_at_once(client: TestClient, store_url: str) -> None:
    record(store_url, api_results(down_for=timedelta(0)))
    assert 'data-state="up"' in row_of(client.get("/").text, "api")
    record(store_url, [down_now("api")])
    row = row_of(client.get("/").text, "api")
    assert 'data-state="down"' in row
    assert "status 503 (want 200)" in row


def test_figures_are_read_again_after_their_time_to_live(
    client: TestClient, store_url: str
) -> None:
    # Up for 2 hours, then down for the last 30 minutes: 75 % over the last 24 hours.
    record(store_url, api_results(down_for=timedelta(0))[:180])
    assert "100 %" in row_of(client.get("/").text, "api")
    record(store_url, api_results(down_for=timedelta(minutes=30))[180:])
    # The state changed at once; the figures are kept until they are STATS_TTL_S old ...
    row = row_of(client.get("/").text, "api")
    assert 'data-state="down"' in row and "100 %" in row
    clock_of(client).advance(timedelta(seconds=STATS_TTL_S + 1))
    # ... and then the recent hours and days are read again (24 h, then 30 d).
    row = row_of(client.get("/").text, "api")
    assert '<td class="num">75 %</td>' in row
    assert '<td class="num wide">75 %</td>' in row
