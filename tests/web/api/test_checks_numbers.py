"""Latencies in ``/api/v1/checks`` are shown to a tenth of a millisecond, as a person reads them:
a probe timed at ``2.0000000000095497`` ms answers ``2.0``, in every field that holds one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from auth_helpers import authorize
from opsbook.accounts import Role
from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine, upgrade
from opsbook.web import create_app
from opsbook.web.api.checks import tenth_of_ms

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CONFIG = {
    "service": "demo",
    "checks": {
        "web": {
            "http": {"url": "http://127.0.0.1:1/healthz"},
            "every": "30s",
            "slo": {"p95": "50ms"},
        }
    },
}
RAW_MS = 2.0000000000095497
TIMINGS = {"connect": 0.31415926, "first_byte": 1.6666666666}


@pytest.fixture
def api(store_url: str) -> Iterator[TestClient]:
    engine = create_engine(store_url)
    try:
        upgrade(engine)
        results = [
            ProbeResult(
                check_id="web",
                started_at=NOW - timedelta(seconds=30 * (n + 1)),
                state=State.UP,
                latency_ms=RAW_MS + n / 3,
                status=200,
                timings_ms=TIMINGS,
            )
            for n in range(20)
        ]
        with engine.begin() as conn:
            service.record_results(conn, results=results, intervals={"web": timedelta(seconds=30)})
    finally:
        engine.dispose()
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    yield authorize(TestClient(app), Role.VIEWER)
    app.state.services.engine.dispose()


def _tenths(value: float) -> bool:
    return value == round(value, 1) and len(repr(value).split(".")[1]) == 1


def test_the_list_rounds_the_last_latency(api: TestClient) -> None:
    [web] = api.get("/api/v1/checks").json()["checks"]
    assert web["last_latency_ms"] == 2.0
    assert '"last_latency_ms":2.0,' in api.get("/api/v1/checks").text


def test_a_checks_windows_and_objectives_are_rounded(api: TestClient) -> None:
    body = api.get("/api/v1/checks/web?windows=1h").json()
    assert body["last_latency_ms"] == 2.0
    hour = body["windows"]["1h"]
    for name in ("p50_ms", "p95_ms", "p99_ms"):
        assert _tenths(hour[name]), (name, hour[name])
    assert hour["slo"]["p95"]["actual"] == hour["p95_ms"]


def test_results_round_their_latency_and_timings(api: TestClient) -> None:
    results = api.get("/api/v1/checks/web/results?limit=3").json()["results"]
    assert [r["latency_ms"] for r in results] == [2.0, 2.3, 2.7]
    assert results[0]["timings_ms"] == {"connect": 0.3, "first_byte": 1.7}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(RAW_MS, 2.0), (3002.04999, 3002.0), (0.05000001, 0.1), (12.25, 12.2), (0.0, 0.0)],
)
def test_a_tenth_of_a_millisecond(raw: float, shown: float) -> None:
    assert tenth_of_ms(raw) == shown
