"""``query_prometheus`` against a real Prometheus scraping the demo service, and against local
HTTP servers for what a real Prometheus will not do on demand (hang, demand a token, redirect)."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from opsbook.alerts.prometheus import PrometheusError, Sample, query_prometheus
from opsbook.config.alerts import PrometheusQuery
from opsbook.demo import DemoServer, DemoState, create_demo_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from peers import (
    PROMETHEUS,
    PROMTOOL,
    Peer,
    free_port,
    missing,
    prometheus,
    query,
    wait_targets_up,
    wait_until,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(missing(PROMETHEUS, PROMTOOL)), reason="prometheus is not installed (make system)"
    ),
]

TOKEN = "s3cr3t-bearer-token-value"


class Stack:
    def __init__(self, demo: DemoServer, state: DemoState, prom: Peer) -> None:
        self.demo = demo
        self.state = state
        self.prom = prom


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One demo service and one Prometheus scraping it every second, shared by this module."""
    state = DemoState()
    demo = DemoServer(create_demo_app(state), port=0)
    demo.start()
    try:
        workdir = tmp_path_factory.mktemp("prometheus")
        with prometheus(workdir, scrape={"demo": f"127.0.0.1:{demo.port}"}) as prom:
            wait_targets_up(prom, job="demo")
            yield Stack(demo, state, prom)
    finally:
        demo.stop()


def q(url: str, expr: str, **extra: Any) -> PrometheusQuery:
    return PrometheusQuery.model_validate({"url": url, "expr": expr, **extra})


async def run(query_: PrometheusQuery) -> list[Sample]:
    async with aiohttp.ClientSession() as session:
        return await query_prometheus(session, query_)


async def test_a_vector_is_one_sample_per_series_labelled_without_the_metric_name(
    stack: Stack,
) -> None:
    samples = await run(q(stack.prom.url, 'up{job="demo"}'))

    assert samples == [
        Sample(labels={"instance": f"127.0.0.1:{stack.demo.port}", "job": "demo"}, value=1.0)
    ]


async def test_it_returns_the_value_prometheus_scraped(stack: Stack) -> None:
    stack.state.update({"queue_depth": 1234})
    try:
        wait_until(
            lambda: any(r["value"][1] == "1234" for r in query(stack.prom, "queue_depth")),
            what="Prometheus scraped queue_depth 1234",
        )

        samples = await run(q(stack.prom.url, 'queue_depth{job="demo"} > 1000'))
    finally:
        stack.state.update({"queue_depth": 0})

    assert [(dict(s.labels), s.value) for s in samples] == [
        ({"instance": f"127.0.0.1:{stack.demo.port}", "job": "demo"}, 1234.0)
    ]


async def test_an_empty_vector_is_no_samples(stack: Stack) -> None:
    assert await run(q(stack.prom.url, 'up{job="no-such-job"}')) == []


async def test_a_scalar_is_one_sample_without_labels(stack: Stack) -> None:
    assert await run(q(stack.prom.url, "1 + 1")) == [Sample(labels={}, value=2.0)]


async def test_infinite_values_survive(stack: Stack) -> None:
    [sample] = await run(q(stack.prom.url, "vector(1) / 0"))

    assert math.isinf(sample.value) and sample.value > 0


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up[1m]", "returns a range vector (matrix); an alert expression must return an instant"),
        ('"hello"', "returns a string; an alert expression must return an instant vector"),
        (
            "up{",
            'answered HTTP 400 (bad_data): invalid parameter "query": 1:4: parse error: '
            "unexpected end of input inside braces",
        ),
        ("rate(up)", 'expected type range vector in call to function "rate", got instant vector'),
        (
            '{job="demo", __name__=~"queue_depth|queue_dlq"}',
            "two series have the same labels {'instance': ",
        ),
    ],
    ids=["matrix", "string", "parse-error", "type-error", "duplicate-labelsets"],
)
async def test_it_refuses_answers_that_cannot_be_alerts(
    stack: Stack, expr: str, expected: str
) -> None:
    with pytest.raises(PrometheusError) as caught:
        await run(q(stack.prom.url, expr))

    assert caught.value.message.startswith(f"Prometheus at {stack.prom.url}")
    assert expected in caught.value.message


async def test_a_server_that_is_not_prometheus_is_named_as_such(stack: Stack) -> None:
    with pytest.raises(PrometheusError) as caught:
        await run(q(stack.demo.url, "up"))

    assert caught.value.message == (
        f"Prometheus at {stack.demo.url} answered HTTP 404 without Prometheus API JSON: "
        "'404: Not Found' (is url the Prometheus server's base URL?)"
    )


async def test_a_refused_connection_says_so_and_redacts_the_password() -> None:
    port = free_port()
    url = f"http://admin:hunter2-password@127.0.0.1:{port}"

    with pytest.raises(PrometheusError) as caught:
        await run(q(url, "up"))

    assert caught.value.message == (
        f"Prometheus at http://admin:***@127.0.0.1:{port}: connect to 127.0.0.1:{port} refused"
    )


# --- local servers for what a real Prometheus does not do on demand ------------------------------

VECTOR = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {"a": "b"}, "value": [1.5, "3"]}]},
}


@pytest.fixture
async def stub() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A server with ``/prom/api/v1/query`` (vector answer), ``/auth/api/v1/query`` (401 unless
    the bearer token is right) and ``/slow/api/v1/query`` (never answers in time)."""
    seen: list[web.Request] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response(VECTOR)

    async def auth(request: web.Request) -> web.Response:
        seen.append(request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401, text="Unauthorized")
        return web.json_response(VECTOR)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response(VECTOR)

    app = web.Application()
    app.router.add_get("/prom/api/v1/query", ok)
    app.router.add_get("/auth/api/v1/query", auth)
    app.router.add_get("/slow/api/v1/query", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", seen
    await runner.cleanup()


async def test_a_route_prefix_in_the_url_is_kept_and_the_expression_is_the_query(
    stub: tuple[str, list[web.Request]],
) -> None:
    base, seen = stub

    samples = await run(q(f"{base}/prom/", 'sum by (code) (rate(x{code=~"5.."}[5m])) > 0.05'))

    assert samples == [Sample(labels={"a": "b"}, value=3.0)]
    assert [(r.path, r.query.get("query")) for r in seen] == [
        ("/prom/api/v1/query", 'sum by (code) (rate(x{code=~"5.."}[5m])) > 0.05')
    ]


async def test_it_sends_the_bearer_token(stub: tuple[str, list[web.Request]]) -> None:
    base, seen = stub

    samples = await run(q(f"{base}/auth", "up", bearer_token=TOKEN))

    assert samples == [Sample(labels={"a": "b"}, value=3.0)]
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_refused_token_is_an_http_error_that_does_not_show_the_token(
    stub: tuple[str, list[web.Request]],
) -> None:
    base, _ = stub

    with pytest.raises(PrometheusError) as caught:
        await run(q(f"{base}/auth", "up", bearer_token="wrong-token-wrong-token"))

    assert caught.value.message == (
        f"Prometheus at {base}/auth answered HTTP 401: 'Unauthorized' (check bearer_token)"
    )
    assert "wrong-token" not in str(caught.value)


async def test_a_query_slower_than_the_timeout_fails_naming_the_timeout(
    stub: tuple[str, list[web.Request]],
) -> None:
    base, _ = stub

    with pytest.raises(PrometheusError) as caught:
        await run(q(f"{base}/slow", "up", timeout="200ms"))

    assert caught.value.message == f"Prometheus at {base}/slow: the query timed out after 0.2s"
