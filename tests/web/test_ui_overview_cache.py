"""The overview is read once for every viewer (``overview_cache``): a state change shows at
once, new results alone and rollup figures after their time to live, both stores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from test_ui_overview import api_results, record, row_of
from ui_helpers import CONFIG, NOW, log_in, migrate, ui_client

from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine
from opsbook.web.ui.overview_data import STATS_TTL_S, read_stats


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


def db_results(*, latency_ms: float, start: datetime, count: int) -> list[ProbeResult]:
    return [
        ProbeResult(
            check_id="db",
            started_at=start + i * timedelta(minutes=1),
            state=State.UP,
            latency_ms=latency_ms,
        )
        for i in range(count)
    ]


def test_a_state_change_reads_only_that_checks_figures(client: TestClient, store_url: str) -> None:
    """The change re-reads the figures of the check that changed, not all of them: another
    check's new results that change no state wait for the time to live as before."""
    two_hours_ago = NOW - timedelta(hours=2)
    results = api_results(down_for=timedelta(minutes=30))
    record(store_url, results[:180])
    record(store_url, db_results(latency_ms=20.0, start=two_hours_ago, count=60))
    assert "20 ms" in row_of(client.get("/").text, "db")
    # db gets slower (still up: no change); then api goes down (a change).
    record(store_url, db_results(latency_ms=400.0, start=NOW - timedelta(minutes=59), count=59))
    record(store_url, results[180:181])
    html = client.get("/").text
    assert '<td class="num" data-label="24 h">99.448 %</td>' in row_of(html, "api")
    assert "20 ms" in row_of(html, "db") and "400 ms" not in row_of(html, "db")
    clock_of(client).advance(timedelta(seconds=STATS_TTL_S + 1))
    assert "400 ms" in row_of(client.get("/").text, "db")


def test_the_figures_of_some_checks_equal_theirs_among_all(store_url: str) -> None:
    migrate(store_url)
    record(store_url, api_results(down_for=timedelta(minutes=30)))
    record(store_url, db_results(latency_ms=20.0, start=NOW - timedelta(hours=2), count=120))
    config = Config.model_validate(CONFIG)
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            every, settled = read_stats(conn, config=config, now=NOW)
            some, _ = read_stats(conn, config=config, now=NOW, settled=settled, only={"api"})
            assert some == {"api": every["api"]}
            # The older part of the window is the settled one: from another hour, refused.
            with pytest.raises(ValueError, match="Settled part of this hour"):
                read_stats(
                    conn, config=config, now=NOW + timedelta(hours=1), settled=settled, only={"api"}
                )
    finally:
        engine.dispose()
