"""Each endpoint of a healthy demo service answers exactly what the seed runbooks quote."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

DemoClient = TestClient[web.Request, web.Application]
# The frozen clock of the `state` fixture starts at 2026-01-01T00:00:00Z.
START_TS = 1767225600

HEALTHY = [
    ("/healthz", '{"status":"healthy"}'),
    ("/api/health", f'{{"ok":true,"ts":{START_TS}}}'),
    ("/health", '{"status":"ok"}'),
    ("/ready", '{"ready":true,"checks":{"database":"ok","queue":"ok"}}'),
    (
        "/ops/uptime",
        '{"status":"operational","services":{"api":"operational","database":"operational"},'
        '"response_time_ms":0.03,"version":"1.0.0"}',
    ),
    ("/ops/queue_health", '{"mode":"async","depth":0,"dlq":0}'),
]


@pytest.mark.parametrize(("path", "body"), HEALTHY)
async def test_it_answers_each_endpoint_with_the_seed_body(
    client: DemoClient, path: str, body: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.text() == body


async def test_it_answers_404_for_an_unknown_path(client: DemoClient) -> None:
    response = await client.get("/nope")
    assert response.status == 404


async def test_it_rejects_a_wrong_method(client: DemoClient) -> None:
    response = await client.post("/healthz")
    assert response.status == 405


async def test_it_starts_with_no_faults(client: DemoClient) -> None:
    response = await client.get("/_faults")
    assert response.status == 200
    assert await response.json() == {
        "down": False,
        "latency_ms": 0.0,
        "error_rate": 0.0,
        "status": None,
        "body": None,
        "queue_depth": 0,
        "dlq": 0,
        "database": "ok",
        "memory_pct": 40.0,
        "disk_used_pct": 55.0,
        "db_connections": 3,
        "auth_failures_per_min": 0.0,
        "payment_failure_rate": 0.0,
        "api_latency_ms": 0.0,
        "db_latency_ms": 0.0,
    }
