"""Simulated users: counters that move by exactly the time the clock advances, under the faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from opsbook.clock import FrozenClock
from opsbook.demo import DemoState, create_demo_app

DemoClient = TestClient[web.Request, web.Application]
GOALS = {"method": "GET", "path": "/api/goals"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def busy(clock: FrozenClock) -> AsyncIterator[DemoClient]:
    """A demo app with 10 simulated API requests a second, on a frozen clock."""
    state = DemoState(clock=clock, traffic_rps=10)
    async with TestClient(TestServer(create_demo_app(state))) as client:
        yield client


async def _scrape(client: DemoClient) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float | None:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, f"several samples {name}{labels}"
    return found[0] if found else None


async def test_nothing_happens_until_the_clock_moves(busy: DemoClient) -> None:
    samples = await _scrape(busy)
    assert _value(samples, "http_requests_total", code="200", **GOALS) is None
    assert _value(samples, "payments_total", status="succeeded") == 0
    assert _value(samples, "auth_failures_total") == 0


async def test_api_traffic_fails_exactly_the_error_rate(
    busy: DemoClient, clock: FrozenClock
) -> None:
    await busy.post("/_faults", json={"error_rate": 0.2})
    clock.advance(timedelta(seconds=30))
    samples = await _scrape(busy)
    assert _value(samples, "http_requests_total", code="200", **GOALS) == 240
    assert _value(samples, "http_requests_total", code="500", **GOALS) == 60
    assert _value(samples, "error_rate_total") == 60


async def test_counters_change_rate_exactly_when_a_fault_changes(
    busy: DemoClient, clock: FrozenClock
) -> None:
    clock.advance(timedelta(seconds=30))
    await busy.post("/_faults", json={"auth_failures_per_min": 30, "payment_failure_rate": 0.1})
    clock.advance(timedelta(seconds=90))
    samples = await _scrape(busy)
    # 30 s healthy, then 90 s at 30 failures a minute.
    assert _value(samples, "auth_failures_total") == 45
    # 60 payments a minute: 30 before the fault, 90 after, a tenth of those failed.
    assert _value(samples, "payments_total", status="succeeded") == 30 + 81
    assert _value(samples, "payments_total", status="failed") == 9


async def test_fractions_of_an_event_carry_over(busy: DemoClient, clock: FrozenClock) -> None:
    await busy.post("/_faults", json={"auth_failures_per_min": 1})
    for _ in range(4):
        clock.advance(timedelta(seconds=20))
        await _scrape(busy)
    samples = await _scrape(busy)
    assert _value(samples, "auth_failures_total") == 1


async def test_api_latency_slows_the_api_histogram_but_not_the_health_endpoints(
    busy: DemoClient, clock: FrozenClock
) -> None:
    await busy.post("/_faults", json={"api_latency_ms": 3000, "db_latency_ms": 800})
    clock.advance(timedelta(seconds=10))
    assert (await busy.get("/healthz")).status == 200
    samples = await _scrape(busy)
    bucket = "http_request_duration_seconds_bucket"
    assert _value(samples, bucket, path="/api/goals", le="3.0") == 0
    assert _value(samples, bucket, path="/api/goals", le="5.0") == 100
    assert _value(samples, "http_request_duration_seconds_sum", path="/api/goals") == (
        pytest.approx(310)
    )
    # The frozen clock measures the real /healthz request as instant.
    assert _value(samples, bucket, path="/healthz", le="0.001") == 1
    db = "db_query_duration_seconds_bucket"
    assert _value(samples, db, le="0.5") == 0
    assert _value(samples, db, le="1.0") == 100


async def test_a_healthy_api_answers_within_its_p50(busy: DemoClient, clock: FrozenClock) -> None:
    clock.advance(timedelta(seconds=10))
    samples = await _scrape(busy)
    bucket = "http_request_duration_seconds_bucket"
    assert _value(samples, bucket, path="/api/goals", le="0.05") == 0
    assert _value(samples, bucket, path="/api/goals", le="0.1") == 100
    assert _value(samples, "db_query_duration_seconds_bucket", le="0.005") == 100


async def test_nothing_reaches_a_service_that_is_down(busy: DemoClient, clock: FrozenClock) -> None:
    await busy.post("/_faults", json={"down": True, "auth_failures_per_min": 60})
    clock.advance(timedelta(minutes=5))
    await busy.post("/_faults", json={})
    samples = await _scrape(busy)
    assert _value(samples, "http_requests_total", code="200", **GOALS) is None
    assert _value(samples, "payments_total", status="succeeded") == 0
    assert _value(samples, "auth_failures_total") == 0


async def test_resource_gauges_follow_the_faults(client: DemoClient) -> None:
    await client.post("/_faults", json={"memory_pct": 90, "disk_used_pct": 95, "db_connections": 9})
    samples = await _scrape(client)
    assert _value(samples, "process_memory_usage_pct") == 90
    assert _value(samples, "nodejs_heap_size_total_bytes") == 512 * 1024 * 1024
    assert _value(samples, "nodejs_heap_size_used_bytes") == pytest.approx(0.9 * 512 * 1024**2)
    assert _value(samples, "disk_used_pct") == 95
    assert _value(samples, "disk_free_pct") == 5
    assert _value(samples, "db_pool_active_connections") == 9
    assert _value(samples, "db_pool_max_connections") == 10


async def test_healthy_gauges_stay_below_every_seed_threshold(client: DemoClient) -> None:
    samples = await _scrape(client)
    assert _value(samples, "process_memory_usage_pct") == 40
    assert _value(samples, "disk_used_pct") == 55
    assert _value(samples, "db_pool_active_connections") == 3


async def test_without_traffic_only_real_requests_are_counted(
    client: DemoClient, state: DemoState
) -> None:
    assert isinstance(state.clock, FrozenClock)
    state.clock.advance(timedelta(minutes=1))
    await client.get("/healthz")
    samples = await _scrape(client)
    requests = [s.labels["path"] for s in samples if s.name == "http_requests_total"]
    assert requests == ["/healthz"]
    assert _value(samples, "payments_total", status="succeeded") == 60


def test_negative_traffic_is_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_s must be >= 0"):
        DemoState(traffic_rps=-1)


async def test_time_the_clock_steps_back_is_not_simulated(
    busy: DemoClient, clock: FrozenClock
) -> None:
    await busy.post("/_faults", json={"auth_failures_per_min": 60})
    clock.advance(timedelta(seconds=-30))
    await _scrape(busy)
    clock.advance(timedelta(seconds=10))
    samples = await _scrape(busy)
    assert _value(samples, "auth_failures_total") == 10
