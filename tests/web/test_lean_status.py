"""The status page's cached files sent ahead of FastAPI's routing (web/lean_status.py) answer
exactly as the routes do, the lean path is really taken, and the layers outside it still see
every request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from opsbook.config import Config
from opsbook.incidents import IncidentStatus
from opsbook.statuspage import render_json
from opsbook.web import create_app, status_site
from opsbook.web.api import statuspage
from opsbook.web.lean_status import LeanStatusPage
from statuspage.statuspage_helpers import NOW, Shop, not_probed, shop_config

Case = tuple[str, str, dict[str, str]]
# (method, path, headers): every kind of file, and the conditional and HEAD forms.
SERVED: list[Case] = [
    *(("GET", f"/api/v2/{name}", {}) for name in render_json.NAMES),
    ("GET", "/status/", {}),
    ("GET", "/status/history/", {}),
    ("GET", "/status/status.css", {}),
    ("GET", "/status/feed.atom", {}),
    ("GET", "/status/feed.rss", {}),
    ("GET", "/status/badge/api/status.svg", {}),
    ("GET", "/status/badge/web/uptime.svg", {}),
    ("HEAD", "/api/v2/summary.json", {}),
    ("HEAD", "/status/", {}),
    ("HEAD", "/status/badge/api/status.svg", {}),
    ("GET", "/api/v2/summary.json", {"Origin": "https://elsewhere.example"}),
    # The test client asks for gzip; a client that refuses it gets the files as they are.
    ("GET", "/api/v2/summary.json", {"Accept-Encoding": "identity"}),
    ("GET", "/status/", {"Accept-Encoding": "gzip;q=0"}),
]
# The routes answer these on both apps.
ROUTED: list[Case] = [
    ("OPTIONS", "/api/v2/summary.json", {"Access-Control-Request-Method": "GET"}),
    ("GET", "/api/v2/nope.json", {}),
    ("GET", "/status/nope.css", {}),
    ("GET", "/status/api/v2/summary.json", {}),
    ("GET", "/status/badge/nope/status.svg", {}),
    ("GET", "/status", {}),
    ("GET", "/status/history", {}),
    ("GET", "/status/subscribe", {}),
    ("POST", "/api/v2/summary.json", {}),
    ("DELETE", "/status/", {}),
]
_VOLATILE_HEADERS = {"date"}


def _answer(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    response = client.request(method, path, headers=headers, follow_redirects=False)
    kept = sorted((k, v) for k, v in response.headers.multi_items() if k not in _VOLATILE_HEADERS)
    return response.status_code, kept, response.content


def _lean_layer(app: FastAPI) -> LeanStatusPage:
    layer: Any = app.middleware_stack
    while not isinstance(layer, LeanStatusPage):
        layer = layer.app
    return layer


class Pair:
    def __init__(self, shop: Shop, lean: TestClient, routed: TestClient) -> None:
        self.shop, self.lean, self.routed = shop, lean, routed

    @property
    def served(self) -> int:
        app: Any = self.lean.app
        return _lean_layer(app).served


@pytest.fixture
def pair(engine: Engine) -> Iterator[Pair]:
    """Two apps on one store and clock: one as built, one without ``LeanStatusPage``."""
    # Two apps' renderings are compared: no probes of their own to change either.
    shop = Shop(engine, Config.model_validate(not_probed(shop_config())))
    shop.results("api-http", ["up", "down", "up"], start=NOW.replace(hour=9))
    shop.declare(summary="Payments fail for some cards")
    apps = [
        create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
        for _ in range(2)
    ]
    layer: object = LeanStatusPage
    assert any(m.cls is layer for m in apps[0].user_middleware)
    apps[1].user_middleware = [m for m in apps[1].user_middleware if m.cls is not layer]
    with TestClient(apps[0]) as lean, TestClient(apps[1]) as routed:
        yield Pair(shop, lean, routed)


def _warm(pair: Pair) -> None:
    """The first request of each cache reads the markers and renders: the route's work."""
    for client in (pair.lean, pair.routed):
        assert client.get("/api/v2/summary.json").status_code == 200
        assert client.get("/status/").status_code == 200


def test_every_cached_answer_is_the_routes_byte_for_byte(pair: Pair) -> None:
    _warm(pair)
    before = pair.served
    for method, path, headers in SERVED:
        ours = _answer(pair.lean, method, path, headers)
        assert ours == _answer(pair.routed, method, path, headers), (method, path)
        assert ours[0] == 200, (method, path)
    assert pair.served - before == len(SERVED)
    # Conditional requests: a 304 for the ETag each route gave, from both.
    for path in ("/api/v2/summary.json", "/status/", "/status/badge/api/status.svg"):
        etag = pair.routed.get(path).headers["etag"]
        for method in ("GET", "HEAD"):
            ours = _answer(pair.lean, method, path, {"If-None-Match": etag})
            assert ours == _answer(pair.routed, method, path, {"If-None-Match": etag})
            assert (ours[0], ours[2]) == (304, b"")
        stale = _answer(pair.lean, "GET", path, {"If-None-Match": '"other"'})
        assert stale == _answer(pair.routed, "GET", path, {"If-None-Match": '"other"'})
        assert stale[0] == 200
    assert pair.served - before == len(SERVED) + 9


def test_the_answers_carry_cors_security_headers_and_the_etag(pair: Pair) -> None:
    _warm(pair)
    document = pair.lean.get("/api/v2/summary.json")
    assert document.headers["access-control-allow-origin"] == "*"
    assert document.headers["content-type"] == "application/json"
    assert document.headers["etag"].startswith('"')
    page = pair.lean.get("/status/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert pair.lean.get("/status/badge/api/status.svg").headers["cache-control"] == (
        "public, max-age=60"
    )
    for response in (document, page):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_everything_else_is_the_routes_to_answer(pair: Pair) -> None:
    _warm(pair)
    before = pair.served
    for method, path, headers in ROUTED:
        ours = _answer(pair.lean, method, path, headers)
        assert ours == _answer(pair.routed, method, path, headers), (method, path)
    assert pair.served == before
    # A GET that declares a body is the inner layers' too (BodyLimit may refuse it).
    big = pair.lean.request("GET", "/status/", content=b"x" * (65 * 1024))
    assert big.status_code == 413
    assert pair.served == before


def test_a_cold_or_due_cache_goes_to_the_route_and_a_change_shows(pair: Pair) -> None:
    # Nothing rendered yet: the route answers (and renders).
    assert pair.lean.get("/api/v2/summary.json").status_code == 200
    assert pair.lean.get("/status/").status_code == 200
    assert pair.served == 0
    assert pair.lean.get("/api/v2/summary.json").status_code == 200
    assert pair.served == 1
    # Markers due again (0.5 s later): the route reads them; then a fresh rendering is lean.
    incident = pair.shop.declare(component="web")
    pair.shop.update(incident, IncidentStatus.IDENTIFIED, "Found the bad deploy")
    pair.shop.clock.advance(timedelta(seconds=statuspage.CHECK_EVERY_S + 0.1))
    assert "Found the bad deploy" in pair.lean.get("/api/v2/summary.json").text
    assert pair.served == 1
    assert "Found the bad deploy" in pair.lean.get("/api/v2/summary.json").text
    assert pair.served == 2


def test_while_one_request_reads_new_markers_the_others_stay_lean(pair: Pair) -> None:
    _warm(pair)
    app: Any = pair.lean.app
    cache: statuspage.SnapshotCache = app.state.statuspage_cache
    site: status_site.SiteCache = app.state.status_site
    before = pair.served
    pair.shop.clock.advance(timedelta(seconds=statuspage.CHECK_EVERY_S + 0.1))
    # Another request holds the read of new markers: the last ones, 0.6 s old, still serve.
    with cache._reading, site._reading:
        assert pair.lean.get("/api/v2/summary.json").status_code == 200
        assert pair.lean.get("/status/").status_code == 200
        assert pair.served == before + 2
        # Past STALE_OK_S they do not: the route waits for the read (here, the last ones).
        pair.shop.clock.advance(timedelta(seconds=statuspage.STALE_OK_S))
        assert cache.peek() is None and site.peek_site() is None
    # Nobody reading and the markers due: the next request goes to the route and reads them.
    assert pair.lean.get("/api/v2/summary.json").status_code == 200
    assert pair.served == before + 2
    assert pair.lean.get("/api/v2/summary.json").status_code == 200
    assert pair.served == before + 3


def test_while_another_request_renders_the_last_rendering_stays_lean(pair: Pair) -> None:
    _warm(pair)
    app: Any = pair.lean.app
    caches: list[statuspage.SnapshotCache] = [app.state.statuspage_cache, app.state.status_site]
    first = pair.lean.get("/api/v2/summary.json").content
    # The renderings are due for the TTL's refresh; the markers were just read again.
    pair.shop.clock.advance(timedelta(seconds=statuspage.TTL_S))
    for cache in caches:
        assert cache._version is not None
        cache._version = (cache._version[0], pair.shop.clock.monotonic())
    assert caches[0].peek() is None  # nobody rendering: the refresh is the route's
    served = pair.served
    # Another request renders: the last rendering is sent on the lean path, as the route
    # would send it (``get(wait=False)``), without the route and a thread.
    with caches[0]._lock, caches[1]._lock:
        assert pair.lean.get("/api/v2/summary.json").content == first
        assert pair.lean.get("/status/").status_code == 200
    assert pair.served == served + 2


def test_only_the_first_request_to_find_work_due_goes_to_the_route(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The requests that come in before the first one's thread has taken the work (markers
    to read, a rendering out of date) are answered on the lean path, not sent after it."""
    _warm(pair)
    app: Any = pair.lean.app
    caches: list[statuspage.SnapshotCache] = [app.state.statuspage_cache, app.state.status_site]
    peeks = [statuspage.peek_cached, status_site.peek_cached]
    # Markers due: the first peek goes (None), the next ones are answered; the route's own
    # peek never claims, so the first request, once there, does the read.
    pair.shop.clock.advance(timedelta(seconds=statuspage.CHECK_EVERY_S + 0.1))
    for peek in peeks:
        assert peek(app) is None
        assert peek(app) is not None and peek(app) is not None
    assert caches[0].peek() is None and caches[1].peek_site() is None
    # ... until that request has read them, or CLAIM_S later if it never does: the next
    # request takes the read on, through the route.
    pair.shop.clock.advance(timedelta(seconds=statuspage.CLAIM_S))
    before = pair.served
    for path in ("/api/v2/summary.json", "/status/"):
        assert pair.lean.get(path).status_code == 200
    assert pair.served == before
    # A rendering out of date (the TTL's refresh): the same, for the render.
    pair.shop.clock.advance(timedelta(seconds=statuspage.TTL_S))
    for cache in caches:
        assert cache._version is not None
        cache._version = (cache._version[0], pair.shop.clock.monotonic())
    for peek in peeks:
        assert peek(app) is None
        assert peek(app) is not None
    # What the first one's route does: renders, and settles the claim.
    app.state.statuspage_cache.get(wait=False)
    app.state.status_site.site(wait=False)
    for path in ("/api/v2/summary.json", "/status/"):
        assert pair.lean.get(path).status_code == 200
    assert pair.served == before + 2
    assert caches[0]._claims == {} and caches[1]._claims == {}


def test_the_lean_path_answers_when_the_routes_cannot(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm(pair)

    async def broken(*args: object) -> None:
        raise AssertionError("the route was called")

    monkeypatch.setattr(statuspage, "_serve", broken)
    monkeypatch.setattr(status_site, "_serve", broken)
    for method, path, headers in SERVED:
        assert _answer(pair.lean, method, path, headers)[0] == 200, (method, path)
    # Proof the patch bites: the app without the lean layer goes to the broken route.
    with pytest.raises(AssertionError, match="the route was called"):
        pair.routed.get("/api/v2/summary.json")


def test_the_request_is_logged_and_counted_under_its_route(engine: Engine) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    registry = CollectorRegistry()
    app = create_app(shop.config, engine=engine, clock=shop.clock, registry=registry)
    with capture_logs() as logs, TestClient(app) as client:
        for _ in range(3):
            assert client.get("/api/v2/summary.json").status_code == 200
            assert client.head("/status/badge/api/status.svg").status_code == 200
        assert _lean_layer(app).served == 4
        etag = client.get("/status/").headers["etag"]
        assert client.get("/status/", headers={"If-None-Match": etag}).status_code == 304
        assert client.get("/status/nope.css").status_code == 404
    # Reads answered 200 or 304 are summed per route and status (pollers send thousands);
    # an error keeps its own line. The window is written when the app stops.
    lines = [e for e in logs if e["event"] in ("request", "request_summary")]
    assert [(e["event"], e["route"], e["status"]) for e in lines if e["event"] == "request"] == [
        ("request", "/status/{name}.{ext}", 404)
    ]
    summed = {(e["method"], e["route"], e["status"]): e["count"] for e in lines[1:]}
    assert summed == {
        ("GET", "/api/v2/summary.json", 200): 3,
        ("HEAD", "/status/badge/{component}/{kind}.svg", 200): 3,
        ("GET", "/status/", 200): 1,
        ("GET", "/status/", 304): 1,
    }
    json_labels = {"method": "GET", "route": "/api/v2/summary.json", "status": "200"}
    assert registry.get_sample_value("opsbook_http_requests_total", json_labels) == 3.0
    badge = {"method": "HEAD", "route": "/status/badge/{component}/{kind}.svg", "status": "200"}
    assert registry.get_sample_value("opsbook_http_requests_total", badge) == 3.0
