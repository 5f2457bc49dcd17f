from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.routing import Router
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.web.metrics import Metrics
from opsbook.web.middleware import SUMMARY_INTERVAL_S, RequestObserver

BACKUP = UUID("0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21")
UNKNOWN = UUID("9d7c1f0e-3b4a-4e2d-8c6b-5a4f3e2d1c0b")


def test_each_request_is_one_log_line_with_its_facts(client: TestClient) -> None:
    with capture_logs() as logs:
        client.get("/health?token=abc123")
        client.get("/nope")
    requests = [e for e in logs if e["event"] == "request"]
    assert requests == [
        {
            "event": "request",
            "log_level": "info",
            "method": "GET",
            "path": "/health",
            "route": "/health",
            "status": 200,
            "duration_ms": 0.0,
            "client": "testclient",
        },
        {
            "event": "request",
            "log_level": "info",
            "method": "GET",
            "path": "/nope",
            "route": "unmatched",
            "status": 404,
            "duration_ms": 0.0,
            "client": "testclient",
        },
    ]
    # The query string may carry a token; it is never logged.
    assert "abc123" not in repr(logs)


def _config() -> Config:
    checks = {"backup": {"heartbeat": {"period": "1h", "uuid": str(BACKUP)}}}
    return Config.model_validate({"service": "t", "checks": checks})


@pytest.fixture
def ping_client(make_app: Callable[..., FastAPI], store_url: str) -> Iterator[TestClient]:
    config = _config()
    with TestClient(make_app(store_url, config=config)) as client:
        yield client


def test_successful_pings_are_summed_into_one_line_per_route_and_status(
    ping_client: TestClient, clock: FrozenClock
) -> None:
    with capture_logs() as logs:
        for _ in range(3):
            assert ping_client.get(f"/ping/{BACKUP}").status_code == 200
        assert ping_client.post(f"/ping/{BACKUP}/fail?token=abc123").status_code == 200
        assert ping_client.get(f"/ping/{UNKNOWN}").status_code == 404
        # Only the 404 so far, logged at once.
        assert [e["event"] for e in logs if e["event"].startswith("request")] == ["request"]
        clock.advance(timedelta(seconds=SUMMARY_INTERVAL_S))
        ping_client.get("/health")  # a request that finds the summary due writes it
    lines = [e for e in logs if e["event"] in ("request", "request_summary")]
    assert [(e["event"], e["method"], e["route"], e["status"]) for e in lines] == [
        ("request", "GET", "/ping/{code}", 404),
        ("request", "GET", "/health", 200),
        ("request_summary", "GET", "/ping/{code}", 200),
        ("request_summary", "POST", "/ping/{code}/{second}", 200),
    ]
    summaries = lines[2:]
    assert [s["count"] for s in summaries] == [3, 1]
    for s in summaries:
        assert s["duration_ms_mean"] == s["duration_ms_max"] == 0.0  # the frozen clock
        assert s["interval_s"] == SUMMARY_INTERVAL_S
    assert "abc123" not in repr(logs)
    # Every ping is in the metrics, one by one, as before.
    metrics = ping_client.get("/metrics").text
    assert 'route="/ping/{code}",status="200"} 3.0' in metrics


def test_the_last_window_is_written_at_shutdown(
    make_app: Callable[..., FastAPI], store_url: str
) -> None:
    config = _config()
    with capture_logs() as logs:
        with TestClient(make_app(store_url, config=config)) as client:
            assert client.get(f"/ping/{BACKUP}/start").status_code == 200
            assert [e for e in logs if e["event"] == "request_summary"] == []
        [summary] = [e for e in logs if e["event"] == "request_summary"]
    assert (summary["route"], summary["count"]) == ("/ping/{code}/{second}", 1)


async def test_a_quiet_window_is_written_by_the_timer(clock: FrozenClock) -> None:
    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = APIRoute("/ping/{code}", endpoint=lambda: None)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"OK"})

    observer = RequestObserver(
        ok,
        metrics=Metrics(CollectorRegistry(), store_up=lambda: True, runner_up=lambda: True),
        clock=clock,
        router=Router(),
        summary_interval_s=0.05,
    )

    async def noop(message: Message) -> None:
        return None

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET", "path": f"/ping/{BACKUP}", "client": None}
    with capture_logs() as logs:
        await observer(dict(scope), nothing, noop)
        await observer(dict(scope), nothing, noop)
        assert logs == []
        await asyncio.sleep(0.2)  # nothing else arrives: the loop's timer writes the line
    assert [(e["event"], e["count"]) for e in logs] == [("request_summary", 2)]
