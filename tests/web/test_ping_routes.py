"""The healthchecks.io-compatible ping routes and ``GET /api/v1/checks/{id}/pings``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from opsbook.checks.heartbeats import heartbeat_uuid
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.web import create_app

KEY = "pk_Zx81-aaaaaaaaaaaaaaa"
BACKUP = UUID("0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21")
WORKER = heartbeat_uuid(service="t", check_id="worker")
UNKNOWN = UUID("9d7c1f0e-3b4a-4e2d-8c6b-5a4f3e2d1c0b")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def client(store_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    config = Config.model_validate(
        {
            "service": "t",
            "pings": {"key": KEY},
            "checks": {
                "backup": {"heartbeat": {"schedule": "0 3 * * *", "uuid": str(BACKUP)}},
                "worker": {"heartbeat": {"period": "5m"}},
                "hook": {"heartbeat": {"period": "1h", "methods": "POST"}},
                "api": {"tcp": {"host": "db", "port": 5432}},
            },
        }
    )
    app = create_app(
        config,
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=clock,
        registry=CollectorRegistry(),
    )
    with TestClient(app, client=("10.1.2.3", 5000)) as client:
        yield client
    app.state.services.engine.dispose()


def _pings(client: TestClient, check_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/checks/{check_id}/pings", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_a_success_ping_answers_ok_and_is_stored_before_the_answer(
    client: TestClient, clock: FrozenClock, method: str
) -> None:
    response = client.request(method, f"/ping/{BACKUP}", headers={"User-Agent": "cron/1"})
    assert response.status_code == 200
    assert response.text == ("" if method == "HEAD" else "OK")
    assert response.headers["Ping-Body-Limit"] == "10000"
    [ping] = _pings(client, "backup")
    assert (ping["kind"], ping["method"], ping["user_agent"]) == ("success", method, "cron/1")
    assert (ping["remote_addr"], ping["received_at"]) == ("10.1.2.3", "2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("suffix", "kind", "exit_status"),
    [
        ("/start", "start", None),
        ("/fail", "fail", None),
        ("/log", "log", None),
        ("/0", "success", 0),
        ("/1", "fail", 1),
        ("/255", "fail", 255),
    ],
)
def test_each_action_is_recorded_as_its_kind(
    client: TestClient, suffix: str, kind: str, exit_status: int | None
) -> None:
    assert client.post(f"/ping/{WORKER}{suffix}").text == "OK"
    [ping] = _pings(client, "worker")
    assert (ping["kind"], ping["exit_status"]) == (kind, exit_status)


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        (f"/ping/{WORKER}/256", 400, "invalid url format"),
        (f"/ping/{WORKER}/starts", 400, "invalid url format"),
        (f"/ping/{UNKNOWN}", 404, "not found"),
        (f"/ping/{UNKNOWN}/start", 404, "not found"),
        ("/ping/not-a-uuid", 404, "not found"),
        (f"/ping/{KEY}/nope", 404, "not found"),
        (f"/ping/{KEY}/api", 404, "not found"),
        (f"/ping/{KEY[:-1]}x/worker", 404, "not found"),
        (f"/ping/{KEY}/Worker", 400, "invalid url format"),
        (f"/ping/{KEY}/worker/999", 400, "invalid url format"),
        (f"/ping/{WORKER}?rid=123", 400, "invalid url format"),
    ],
)
def test_bad_ping_urls_answer_like_healthchecks_and_store_nothing(
    client: TestClient, path: str, status: int, text: str
) -> None:
    response = client.post(path)
    assert (response.status_code, response.text) == (status, text)
    assert _pings(client, "worker") == []


@pytest.mark.parametrize(
    ("suffix", "kind"), [("", "success"), ("/start", "start"), ("/fail", "fail"), ("/3", "fail")]
)
def test_the_slug_form_with_the_ping_key_works_like_the_uuid_form(
    client: TestClient, suffix: str, kind: str
) -> None:
    assert client.get(f"/ping/{KEY}/worker{suffix}").text == "OK"
    assert [p["kind"] for p in _pings(client, "worker")] == [kind]


def test_a_run_id_pairs_start_and_completion_and_gives_the_duration(
    client: TestClient, clock: FrozenClock
) -> None:
    rid = uuid4()
    assert client.post(f"/ping/{WORKER}/start?rid={rid}").status_code == 200
    clock.advance(timedelta(seconds=42))
    assert client.post(f"/ping/{WORKER}/0?rid={rid}").status_code == 200
    done, start = _pings(client, "worker")
    assert (done["rid"], start["rid"]) == (str(rid), str(rid))
    assert done["duration_ms"] == 42_000.0


def test_the_body_is_kept_up_to_ten_thousand_bytes(client: TestClient) -> None:
    assert client.post(f"/ping/{WORKER}/fail", content=b"x" * 10_500).text == "OK"
    [ping] = _pings(client, "worker")
    assert ping["body"] == "x" * 10_000


def test_a_post_only_check_ignores_get_and_head(client: TestClient) -> None:
    hook = heartbeat_uuid(service="t", check_id="hook")
    assert client.get(f"/ping/{hook}/fail").text == "OK"
    assert client.post(f"/ping/{hook}").text == "OK"
    assert [p["kind"] for p in _pings(client, "hook")] == ["success", "ignored"]


def test_without_a_ping_key_the_slug_form_is_not_found(store_url: str) -> None:
    config = Config.model_validate(
        {"service": "t", "checks": {"worker": {"heartbeat": {"period": "5m"}}}}
    )
    app = create_app(
        config, environ={"OPSBOOK_DATABASE_URL": store_url}, registry=CollectorRegistry()
    )
    with TestClient(app) as client:
        assert client.post("/ping/anything-long-enough/worker").status_code == 404
        assert client.post(f"/ping/{WORKER}").text == "OK"
    app.state.services.engine.dispose()


def test_the_pings_api_pages_newest_first(client: TestClient) -> None:
    for _ in range(3):
        client.post(f"/ping/{WORKER}")
    client.post(f"/ping/{WORKER}/fail")
    first = _pings(client, "worker", limit=2)
    assert [p["kind"] for p in first] == ["fail", "success"]
    rest = _pings(client, "worker", limit=2, before=first[-1]["id"])
    assert [p["kind"] for p in rest] == ["success", "success"]


@pytest.mark.parametrize("check_id", ["nope", "api"])
def test_the_pings_api_is_404_for_a_check_that_is_not_a_heartbeat(
    client: TestClient, check_id: str
) -> None:
    response = client.get(f"/api/v1/checks/{check_id}/pings")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": f"no heartbeat check {check_id!r}",
        "field": "check_id",
        "location": None,
    }


def test_the_pings_api_names_a_bad_parameter(client: TestClient) -> None:
    response = client.get("/api/v1/checks/worker/pings", params={"limit": 0})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "query.limit"


def test_the_pings_api_is_read_only(client: TestClient) -> None:
    assert client.post("/api/v1/checks/worker/pings").status_code == 405
