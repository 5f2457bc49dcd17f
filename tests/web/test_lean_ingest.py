"""``POST /api/v2/alerts`` served ahead of the whole middleware stack (web/hot_routes.py) and,
for a body of no declared length, ahead of FastAPI's routing (web/lean_ingest.py) answers
exactly as the routed endpoint does, and what the layers around it do still happens: the request
log and metrics, the security headers, the 500 of an unexpected error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from opsbook.config import Config
from opsbook.web.api.ingest import POST_ALERTS_PATH, post_alerts_route
from opsbook.web.hot_routes import HotApp, HotRoute
from opsbook.web.lean_ingest import LeanIngest
from opsbook.web.memory import LARGE_BODY_BYTES
from opsbook.web.middleware import RequestObserver

TOKEN = "prom-token-0123456789abc"
CONFIG = Config.model_validate(
    {"service": "t", "integrations": {"prom": {"alertmanager": {"token": TOKEN}}}}
)
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ALERT = {"labels": {"alertname": "HighLatency", "service": "api"}, "annotations": {"seq": "1"}}
# Past LARGE_BODY_BYTES (256 KB) and within MAX_ALERTS.
LARGE = json.dumps([{**ALERT, "annotations": {"seq": "1", "text": "x" * 400}}] * 900).encode()
_BASIC = base64.b64encode(f"prometheus:{TOKEN}".encode()).decode()

# (name, method, path, headers, body): every kind of answer the route gives.
REQUESTS: list[tuple[str, str, str, dict[str, str], bytes]] = [
    ("stored", "POST", "/api/v2/alerts", BEARER, json.dumps([ALERT]).encode()),
    ("re-sent", "POST", "/api/v2/alerts", BEARER, json.dumps([ALERT, ALERT]).encode()),
    (
        "basic auth",
        "POST",
        "/api/v2/alerts",
        {"Authorization": f"Basic {_BASIC}"},
        json.dumps([ALERT]).encode(),
    ),
    ("no token", "POST", "/api/v2/alerts", {}, b"[]"),
    ("wrong token", "POST", "/api/v2/alerts", {"Authorization": "Bearer nope"}, b"[]"),
    ("not json", "POST", "/api/v2/alerts", BEARER, b"[{"),
    ("not utf-8", "POST", "/api/v2/alerts", BEARER, b'["\xff"]'),
    ("not an array", "POST", "/api/v2/alerts", BEARER, b'{"labels": {}}'),
    (
        "one bad alert",
        "POST",
        "/api/v2/alerts",
        BEARER,
        json.dumps([ALERT, {"labels": {"bad-name": "x"}}]).encode(),
    ),
    ("too large", "POST", "/api/v2/alerts", BEARER, b"[" + b" " * (2 * 1024 * 1024) + b"]"),
    # Past LARGE_BODY_BYTES, and of no declared length: the stack serves these (LeanIngest).
    ("large", "POST", "/api/v2/alerts", BEARER, LARGE),
    ("chunked", "POST", "/api/v2/alerts", BEARER, json.dumps([ALERT]).encode()),
    ("chunked, no token", "POST", "/api/v2/alerts", {}, b"[]"),
    # Not the lean route: FastAPI answers these, on both apps.
    ("GET", "GET", "/api/v2/alerts", BEARER, b""),
    ("trailing slash", "POST", "/api/v2/alerts/", BEARER, b"[]"),
]
_VOLATILE_HEADERS = {"date", "content-length"}


def _answer(
    client: TestClient, method: str, path: str, headers: dict[str, str], body: bytes, name: str
) -> Any:
    # A body given as an iterator goes out chunked, with no Content-Length.
    content: Any = iter([body]) if name.startswith("chunked") else body
    response = client.request(
        method, path, headers=headers, content=content, follow_redirects=False
    )
    kept = {k: v for k, v in response.headers.items() if k not in _VOLATILE_HEADERS}
    return response.status_code, kept, response.content


@pytest.fixture
def clients(make_app: Callable[..., FastAPI], tmp_path: Path) -> Iterator[list[TestClient]]:
    lean = make_app(f"sqlite:///{tmp_path / 'lean.db'}", config=CONFIG)
    routed = make_app(
        f"sqlite:///{tmp_path / 'routed.db'}", config=CONFIG, registry=CollectorRegistry()
    )
    lean_layer: object = LeanIngest
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not lean_layer]
    assert isinstance(routed, HotApp)
    routed.hot_routes.clear()
    assert any(m.cls is lean_layer for m in lean.user_middleware)
    with TestClient(lean) as a, TestClient(routed) as b:
        yield [a, b]


def test_every_answer_is_the_routed_endpoints(clients: list[TestClient]) -> None:
    lean, routed = clients
    for name, method, path, headers, body in REQUESTS:
        ours = _answer(lean, method, path, headers, body, name)
        theirs = _answer(routed, method, path, headers, body, name)
        assert ours == theirs, name
    # The answers above are what each case is about, not only equal.
    statuses = {name: _answer(lean, m, p, h, b, name)[0] for name, m, p, h, b in REQUESTS}
    assert statuses["stored"] == statuses["basic auth"] == statuses["chunked"] == 200
    assert statuses["large"] == 200
    assert statuses["chunked, no token"] == 401
    assert statuses["no token"] == statuses["wrong token"] == 401
    assert statuses["not json"] == statuses["one bad alert"] == 400
    assert statuses["too large"] == 413


def test_a_bad_alert_is_named_and_the_good_one_stored(clients: list[TestClient]) -> None:
    lean, _ = clients
    body = [ALERT, {"labels": {"alertname": "X"}, "startsAt": "yesterday"}]
    response = lean.post("/api/v2/alerts", json=body, headers=BEARER)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "$[1].startsAt"
    assert error["location"] == "body"
    assert "1 of 2 alerts stored" in error["message"]
    listed = lean.get("/api/v2/alerts", headers=BEARER).json()
    assert [a["labels"]["service"] for a in listed] == ["api"]


def test_the_request_is_logged_and_counted_under_its_route(
    clients: list[TestClient], registry: CollectorRegistry
) -> None:
    lean, _ = clients
    with capture_logs() as logs:
        for _ in range(2):
            assert lean.post("/api/v2/alerts", json=[ALERT], headers=BEARER).status_code == 200
        response = lean.post("/api/v2/alerts", json=[ALERT])
        observer: Any = lean.app.middleware_stack
        while not isinstance(observer, RequestObserver):
            observer = observer.app
        observer.flush_summary()
    labels = {"method": "POST", "route": "/api/v2/alerts", "status": "200"}
    assert registry.get_sample_value("opsbook_http_requests_total", labels) == 2.0
    # Accepted posts are summed (Prometheus re-sends every firing alert); a refused one is
    # logged on its own, naming its status.
    lines = [(e["event"], e["status"]) for e in logs if e["event"].startswith("request")]
    assert lines == [("request", 401), ("request_summary", 200)]
    assert [e["count"] for e in logs if e["event"] == "request_summary"] == [2]
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["x-content-type-options"] == "nosniff"  # security headers: outside


def test_an_unexpected_error_gets_the_500_with_the_headers_and_is_raised_again(
    clients: list[TestClient], registry: CollectorRegistry
) -> None:
    lean, _ = clients
    app = lean.app
    assert isinstance(app, HotApp)

    async def boom(request: Any) -> Any:
        raise RuntimeError("boom")

    app.hot_routes.add(
        "POST", POST_ALERTS_PATH, HotRoute(post_alerts_route(), boom, max_body=LARGE_BODY_BYTES)
    )
    # The server gets the error to log (uvicorn's "Exception in ASGI application")...
    with pytest.raises(RuntimeError, match="boom"):
        lean.post("/api/v2/alerts", json=[ALERT], headers=BEARER)
    # ...after the client got the Exception handler's answer, with the security headers.
    quiet = TestClient(app, raise_server_exceptions=False)
    with capture_logs() as logs:
        response = quiet.post("/api/v2/alerts", json=[ALERT], headers=BEARER)
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "internal error; see the server log"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert [(e["event"], e["status"]) for e in logs if e["event"] == "request"] == [
        ("request", 500)
    ]
    labels = {"method": "POST", "route": "/api/v2/alerts", "status": "500"}
    assert registry.get_sample_value("opsbook_http_requests_total", labels) == 2.0
    # A body past LARGE_BODY_BYTES is not the hot route's: the stack serves it (and stores it).
    assert len(LARGE) > LARGE_BODY_BYTES
    response = lean.post("/api/v2/alerts", content=LARGE, headers=BEARER)
    assert response.status_code == 200
