"""/api/v2/<name>.json and POST /api/v1/incidents/{id}/component-status through the real app,
on both store backends."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from statuspage_helpers import Shop, shop_config

from auth_helpers import grant
from opsbook.accounts import Role
from opsbook.config import Config
from opsbook.incidents import service
from opsbook.statuspage import render_json
from opsbook.web import create_app


class Site:
    def __init__(self, shop: Shop, client: TestClient) -> None:
        self.shop, self.client = shop, client

    def get(self, name: str) -> dict[str, object]:
        response = self.client.get(f"/api/v2/{name}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def later(self, seconds: float = 1.0) -> None:
        self.shop.clock.advance(timedelta(seconds=seconds))

    def token(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {grant(self.shop.engine, role, name=role.value)}"}


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    shop = Shop(engine, Config.model_validate(shop_config()))
    app = create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    # No credentials at all: the status page needs none.
    yield Site(shop, TestClient(app))


@pytest.mark.parametrize("name", render_json.NAMES)
def test_each_document_is_public_json_any_site_may_read(site: Site, name: str) -> None:
    response = site.client.get(f"/api/v2/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["page"]["name"] == "Shop status"
    # Byte for byte what a static export of the same snapshot would write.
    assert response.content == render_json.render(site.shop.snapshot())[name]


def test_a_browser_preflight_and_head_are_answered(site: Site) -> None:
    response = site.client.options(
        "/api/v2/summary.json",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    head = site.client.head("/api/v2/status.json")
    assert (head.status_code, head.content) == (200, b"")


def test_an_unchanged_document_answers_304_to_its_etag(site: Site) -> None:
    first = site.client.get("/api/v2/status.json")
    again = site.client.get("/api/v2/status.json", headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["access-control-allow-origin"] == "*"


def _raw(site: Site, path: str, accept_encoding: str, **headers: str) -> tuple[Any, bytes]:
    """The answer as sent (httpx would inflate it)."""
    sent = {"Accept-Encoding": accept_encoding, **headers}
    with site.client.stream("GET", path, headers=sent) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("path", ["/api/v2/summary.json", "/status/", "/status/feed.atom"])
def test_a_client_that_accepts_gzip_gets_the_file_gzipped_once(site: Site, path: str) -> None:
    plain, body = _raw(site, path, "identity")
    packed, sent = _raw(site, path, "br;q=1.0, gzip;q=0.8, *;q=0.1")
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(sent) == body and len(sent) < len(body) / 2
    # Both forms say they vary, and each has its own entity tag (a cache keeps them apart).
    for answer in (plain, packed):
        assert answer.headers["vary"] == "Accept-Encoding"
    etag = packed.headers["etag"]
    assert etag == plain.headers["etag"][:-1] + '-gzip"'
    # The same bytes every time: rendered and compressed once, not per request.
    assert _raw(site, path, "gzip")[1] == sent
    again, empty = _raw(site, path, "gzip", **{"If-None-Match": etag})
    assert (again.status_code, empty) == (304, b"")
    assert "content-encoding" not in again.headers
    # gzip refused outright, or only by a wildcard's q=0: the file as it is.
    for refused in ("gzip;q=0", "deflate, *;q=0", ""):
        answer, raw = _raw(site, path, refused)
        assert "content-encoding" not in answer.headers, refused
        assert raw == body, refused


def test_the_alertmanager_routes_beside_them_still_need_their_token(site: Site) -> None:
    assert site.client.get("/api/v2/alerts").status_code == 401
    assert site.client.get("/api/v2/status").status_code == 401
    assert site.client.get("/api/v2/nothing.json").status_code == 404
    assert site.client.post("/api/v2/summary.json").status_code == 405


def test_a_change_shows_within_a_second(site: Site) -> None:
    assert site.get("incidents/unresolved.json")["incidents"] == []
    incident_id = site.shop.declare(component="api", severity="SEV1")
    site.later(0.6)
    [shown] = site.get("incidents/unresolved.json")["incidents"]  # type: ignore[misc]
    assert shown["id"] == str(incident_id)
    status = site.get("status.json")["status"]
    assert status == {"indicator": "critical", "description": "Partial System Outage"}

    site.shop.results("web-http", ["down"], start=site.shop.clock.now())
    site.later(0.6)
    components = {c["id"]: c["status"] for c in site.get("components.json")["components"]}
    assert components["web"] == "major_outage"


def test_a_maintenance_window_opening_shows_without_any_write(site: Site) -> None:
    [upcoming] = site.get("scheduled-maintenances/upcoming.json")["scheduled_maintenances"]  # type: ignore[misc]
    assert upcoming["status"] == "scheduled"
    site.shop.clock.advance(timedelta(hours=14, minutes=1))  # 02:01 on the 2nd: open
    [active] = site.get("scheduled-maintenances/active.json")["scheduled_maintenances"]  # type: ignore[misc]
    assert active["id"] == upcoming["id"]
    assert site.get("status.json")["status"] == {
        "indicator": "maintenance",
        "description": "Service Under Maintenance",
    }


def override(site: Site, incident_id: int, body: object, role: Role | None) -> object:
    headers = site.token(role) if role is not None else {}
    return site.client.post(
        f"/api/v1/incidents/{incident_id}/component-status", json=body, headers=headers
    )


def test_a_responder_overrides_a_component_and_it_shows_at_once(site: Site) -> None:
    incident_id = site.shop.declare(component="api", severity="SEV3")
    response = override(
        site, incident_id, {"component": "api", "status": "major_outage"}, Role.RESPONDER
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["component"], body["override"], body["status"]) == (
        "api",
        "major_outage",
        "major_outage",
    )
    components = {c["id"]: c["status"] for c in site.get("components.json")["components"]}
    assert components["api"] == "major_outage"
    with site.shop.engine.begin() as conn:
        last = service.timeline(conn, incident_id)[-1]
    assert (last.kind, last.actor) == ("component_status", "token:responder")


@pytest.mark.parametrize(
    ("body", "role", "code", "message"),
    [
        ({"component": "api", "status": "major_outage"}, None, 401, "log in"),
        ({"component": "api", "status": "major_outage"}, Role.VIEWER, 403, "responder"),
        ({"component": "api"}, Role.RESPONDER, 400, "$.status: is required"),
        (
            {"component": "api", "status": "down"},
            Role.RESPONDER,
            400,
            "$.status: not a component status",
        ),
        (
            {"component": "zz", "status": None},
            Role.RESPONDER,
            400,
            "$.component: no component by that name",
        ),
        ({"component": "api", "status": None, "x": 1}, Role.RESPONDER, 400, "$.x: is not a known"),
    ],
)
def test_a_bad_override_is_refused_and_changes_nothing(
    site: Site, body: object, role: Role | None, code: int, message: str
) -> None:
    incident_id = site.shop.declare(component="api", severity="SEV3")
    response = override(site, incident_id, body, role)
    assert response.status_code == code
    assert message in json.dumps(response.json())
    with site.shop.engine.begin() as conn:
        assert [e.kind for e in service.timeline(conn, incident_id)] == ["declared"]


def test_an_override_on_an_unknown_incident_is_404_and_get_is_405(site: Site) -> None:
    response = override(site, 999, {"component": "api", "status": None}, Role.RESPONDER)
    assert response.status_code == 404
    got = site.client.get("/api/v1/incidents/1/component-status", headers=site.token(Role.ADMIN))
    assert got.status_code == 405


def test_the_last_rendering_is_served_while_the_store_cannot_answer(site: Site) -> None:
    engine = site.shop.engine
    if engine.url.get_backend_name() != "sqlite":
        pytest.skip("a SQLite file can be taken away under the app; the outage is the same")
    before = site.client.get("/api/v2/summary.json")
    assert before.status_code == 200
    engine.dispose()
    path = Path(str(engine.url.database))
    path.rename(path.with_suffix(".gone"))  # a new connection finds no tables: the store is broken
    site.later(0.6)
    during = site.client.get("/api/v2/summary.json")
    assert (during.status_code, during.content) == (200, before.content)
