"""/metrics: Prometheus text that counts every request by its real code and latency."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from opsbook.demo import create_demo_app

DemoClient = TestClient[web.Request, web.Application]


async def _samples(client: DemoClient) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, f"no single sample {name}{labels} in {samples}"
    return found[0]


async def test_it_counts_requests_by_code_method_and_route(client: DemoClient) -> None:
    for _ in range(3):
        await client.get("/healthz")
    await client.post("/_faults", json={"status": 503})
    await client.get("/ready")
    await client.get("/no/such/page")
    samples = await _samples(client)
    total = "http_requests_total"
    assert _value(samples, total, code="200", method="GET", path="/healthz") == 3
    assert _value(samples, total, code="503", method="GET", path="/ready") == 1
    assert _value(samples, total, code="404", method="GET", path="unmatched") == 1
    assert _value(samples, "error_rate_total") == 1


async def test_it_does_not_count_metrics_or_fault_api_requests(client: DemoClient) -> None:
    await client.get("/metrics")
    await client.post("/_faults", json={})
    await client.get("/_faults")
    samples = await _samples(client)
    assert [s for s in samples if s.name == "http_requests_total"] == []


async def test_it_counts_injected_errors_with_their_real_code(client: DemoClient) -> None:
    await client.post("/_faults", json={"error_rate": 0.5})
    for _ in range(10):
        await client.get("/api/health")
    samples = await _samples(client)
    total = "http_requests_total"
    assert _value(samples, total, code="500", method="GET", path="/api/health") == 5
    assert _value(samples, total, code="200", method="GET", path="/api/health") == 5
    assert _value(samples, "error_rate_total") == 5


async def test_the_latency_histogram_includes_injected_latency() -> None:
    # The frozen clock of the shared fixture measures nothing, so this test uses the real one.
    async with TestClient(TestServer(create_demo_app())) as client:
        await client.post("/_faults", json={"latency_ms": 120})
        await client.get("/healthz")
        samples = await _samples(client)
    name = "http_request_duration_seconds_bucket"
    assert _value(samples, name, path="/healthz", le="0.1") == 0
    assert _value(samples, name, path="/healthz", le="0.25") == 1
    assert _value(samples, "http_request_duration_seconds_count", path="/healthz") == 1
    assert _value(samples, "http_request_duration_seconds_sum", path="/healthz") >= 0.12


async def test_it_exports_queue_depth_from_the_faults(client: DemoClient) -> None:
    await client.post("/_faults", json={"queue_depth": 5000, "dlq": 12})
    samples = await _samples(client)
    assert _value(samples, "queue_depth") == 5000
    assert _value(samples, "queue_dlq") == 12


async def test_two_apps_do_not_share_counts(client: DemoClient) -> None:
    await client.get("/healthz")
    async with TestClient(TestServer(create_demo_app())) as other:
        samples = await _samples(other)
    assert [s for s in samples if s.name == "http_requests_total"] == []
