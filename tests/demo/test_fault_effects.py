"""Each fault changes what a prober sees, exactly as the seed runbooks' incidents look."""

from __future__ import annotations

import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

DemoClient = TestClient[web.Request, web.Application]

PROBED = ["/healthz", "/api/health", "/health", "/ready", "/ops/uptime", "/ops/queue_health"]


@pytest.mark.parametrize("path", [*PROBED, "/metrics"])
async def test_down_drops_the_connection_without_an_answer(client: DemoClient, path: str) -> None:
    await client.post("/_faults", json={"down": True})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.get(path)


async def test_the_fault_api_still_answers_while_down(client: DemoClient) -> None:
    await client.post("/_faults", json={"down": True})
    assert (await (await client.get("/_faults")).json())["down"] is True
    assert (await client.post("/_faults", json={})).status == 200
    assert (await client.get("/healthz")).status == 200


async def test_latency_delays_the_answer_by_at_least_the_injected_time(
    client: DemoClient,
) -> None:
    await client.post("/_faults", json={"latency_ms": 250})
    started = time.perf_counter()
    response = await client.get("/healthz")
    elapsed_s = time.perf_counter() - started
    assert response.status == 200
    assert elapsed_s >= 0.25


async def test_error_rate_fails_exactly_that_fraction_of_requests(client: DemoClient) -> None:
    await client.post("/_faults", json={"error_rate": 0.2})
    codes = [(await client.get("/healthz")).status for _ in range(100)]
    assert codes.count(500) == 20
    assert codes.count(200) == 80


async def test_each_endpoint_fails_its_own_share_of_requests(client: DemoClient) -> None:
    # With one shared count, probes alternating between two endpoints would always fail the
    # same one; per endpoint, every second request of each fails.
    await client.post("/_faults", json={"error_rate": 0.5})
    codes = [(await client.get(path)).status for _ in range(4) for path in ("/healthz", "/ready")]
    assert codes == [200, 200, 500, 500] * 2


async def test_an_injected_error_says_it_was_injected(client: DemoClient) -> None:
    await client.post("/_faults", json={"error_rate": 1})
    response = await client.get("/api/health")
    assert response.status == 500
    assert await response.text() == '{"error":{"message":"injected error (error_rate 1.0)"}}'


@pytest.mark.parametrize("path", PROBED)
async def test_status_forces_the_code_of_every_health_endpoint(
    client: DemoClient, path: str
) -> None:
    await client.post("/_faults", json={"status": 503})
    response = await client.get(path)
    assert response.status == 503


async def test_body_replaces_the_answer_verbatim(client: DemoClient) -> None:
    await client.post("/_faults", json={"body": "<html>Bad Gateway</html>"})
    response = await client.get("/healthz")
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "<html>Bad Gateway</html>"


async def test_a_json_body_is_served_as_json(client: DemoClient) -> None:
    await client.post("/_faults", json={"body": '{"status":"unhealthy"}', "status": 500})
    response = await client.get("/healthz")
    assert response.status == 500
    assert response.content_type == "application/json"
    assert await response.text() == '{"status":"unhealthy"}'


async def test_queue_depth_and_dlq_show_in_queue_health(client: DemoClient) -> None:
    await client.post("/_faults", json={"queue_depth": 5000, "dlq": 12})
    response = await client.get("/ops/queue_health")
    assert await response.text() == '{"mode":"async","depth":5000,"dlq":12}'


async def test_a_database_fault_degrades_uptime_but_keeps_it_answering_200(
    client: DemoClient,
) -> None:
    await client.post("/_faults", json={"database": "down"})
    response = await client.get("/ops/uptime")
    assert response.status == 200
    assert await response.text() == (
        '{"status":"degraded","services":{"api":"operational","database":"down"},'
        '"response_time_ms":0.03,"version":"1.0.0"}'
    )


async def test_a_database_fault_makes_the_service_not_ready(client: DemoClient) -> None:
    await client.post("/_faults", json={"database": "down"})
    response = await client.get("/ready")
    assert response.status == 503
    assert await response.text() == '{"ready":false,"checks":{"database":"down","queue":"ok"}}'
    assert (await client.get("/health")).status == 200


async def test_clearing_restores_every_endpoint(client: DemoClient) -> None:
    await client.post(
        "/_faults",
        json={"status": 500, "body": "x", "database": "down", "queue_depth": 9, "error_rate": 1},
    )
    await client.post("/_faults", json={})
    for path in PROBED:
        assert (await client.get(path)).status == 200
    assert await (await client.get("/healthz")).text() == '{"status":"healthy"}'
