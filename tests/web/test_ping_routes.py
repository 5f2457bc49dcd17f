"""The healthchecks.io-compatible ping routes and ``GET /api/v1/checks/{id}/pings``."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.routing import Router

from auth_helpers import authorize, grant
from opsbook.accounts import Role
from opsbook.checks.heartbeats import heartbeat_uuid
from opsbook.checks.pings import heartbeat_facts, list_pings
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import create_engine
from opsbook.web import create_app
from serving import Server, serve_env

KEY = "pk_Zx81-aaaaaaaaaaaaaaa"
BACKUP = UUID("0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21")
WORKER = heartbeat_uuid(service="t", check_id="worker")
UNKNOWN = UUID("9d7c1f0e-3b4a-4e2d-8c6b-5a4f3e2d1c0b")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def client(store_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    """A started app's client, sending an admin token."""
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
            "alerts": {"worker-down": {"when": "worker down", "severity": "SEV3"}},
        }
    )
    app = create_app(
        config,
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=clock,
        registry=CollectorRegistry(),
    )
    with TestClient(app, client=("10.1.2.3", 5000)) as client:
        yield authorize(client)
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
        (f"/ping/{UNKNOWN}/256", 404, "not found"),
        (f"/ping/{WORKER}?rid=123", 400, "invalid uuid format"),
        (f"/ping/{WORKER}/start?rid=", 400, "invalid uuid format"),
        (f"/ping/{WORKER}?rid={BACKUP.hex}", 400, "invalid uuid format"),
        (f"/ping/{WORKER}?rid={{{BACKUP}}}", 400, "invalid uuid format"),
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


@pytest.mark.parametrize(
    ("method", "path", "kind", "exit_status"),
    [
        ("GET", f"/ping/{WORKER}/", "success", None),
        ("POST", f"/ping/{WORKER}/", "success", None),
        ("HEAD", f"/ping/{WORKER}/", "success", None),
        ("GET", f"/ping/{WORKER}/start/", "start", None),
        ("POST", f"/ping/{WORKER}/fail/", "fail", None),
        ("GET", f"/ping/{WORKER}/log/", "log", None),
        ("POST", f"/ping/{WORKER}/3/", "fail", 3),
        ("GET", f"/ping/{KEY}/worker/", "success", None),
        ("HEAD", f"/ping/{KEY}/worker/start/", "start", None),
        ("POST", f"/ping/{KEY}/worker/0/", "success", 0),
    ],
)
def test_a_trailing_slash_is_the_same_ping_not_a_redirect(
    client: TestClient, method: str, path: str, kind: str, exit_status: int | None
) -> None:
    # A redirect answers 307 with an empty body: `curl -fsS` exits 0 and the ping is lost.
    response = client.request(method, path, follow_redirects=False)
    assert response.status_code == 200
    [ping] = _pings(client, "worker")
    assert (ping["kind"], ping["exit_status"], ping["method"]) == (kind, exit_status, method)


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        (f"/ping/{UNKNOWN}/", 404, "not found"),
        (f"/ping/{UNKNOWN}/fail/", 404, "not found"),
        (f"/ping/{KEY}/nope/", 404, "not found"),
        (f"/ping/{WORKER}/256/", 400, "invalid url format"),
    ],
)
def test_a_wrong_url_with_a_trailing_slash_is_still_wrong(
    client: TestClient, path: str, status: int, text: str
) -> None:
    response = client.post(path, follow_redirects=False)
    assert (response.status_code, response.text) == (status, text)
    assert _pings(client, "worker") == []


@pytest.mark.parametrize(("path", "status"), [(f"/ping/{WORKER}", 200), (f"/ping/{UNKNOWN}", 404)])
def test_ping_answers_allow_any_origin_and_are_never_cached(
    client: TestClient, path: str, status: int
) -> None:
    # healthchecks.io documents pinging from a browser with fetch(); a cached answer is a lost ping.
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert {"no-cache", "no-store", "max-age=0"} <= directives


def test_a_body_that_is_not_utf8_is_kept_as_sent_and_shown_escaped(
    client: TestClient, store_url: str
) -> None:
    sent = "dump: 12 GB, \u00e9t\u00e9 ok ".encode() + b"\xff\xfe\x00 end"
    assert client.post(f"/ping/{WORKER}/fail", content=sent).text == "OK"
    [ping] = _pings(client, "worker")
    assert ping["body"] == "dump: 12 GB, \u00e9t\u00e9 ok \\xff\\xfe\x00 end"
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        [stored] = list_pings(conn, check_id="worker")
    assert stored.body == sent


@pytest.mark.parametrize(
    ("suffix", "state", "error"),
    [
        ("", "up", None),
        ("/fail", "down", "the run reported failure (/fail)"),
        ("/7", "down", "the run exited with status 7"),
    ],
)
def test_the_check_state_shows_the_ping_as_soon_as_it_is_answered(
    client: TestClient, clock: FrozenClock, suffix: str, state: str, error: str | None
) -> None:
    assert client.get("/api/v1/checks/worker").json()["state"] is None
    assert client.post(f"/ping/{WORKER}{suffix}").text == "OK"
    check = client.get("/api/v1/checks/worker").json()
    assert (check["state"], check["last_error"]) == (state, error)
    assert check["last_result_at"] == "2026-01-01T00:00:00Z"


def test_the_results_of_a_ping_go_to_the_alert_engine(client: TestClient) -> None:
    # The monitor no longer reports pings: the route hands their results on, as the sink does.
    assert client.post(f"/ping/{WORKER}/fail").text == "OK"
    [alert] = client.get("/api/v1/alerts").json()["alerts"]
    assert (alert["rule"], alert["status"]) == ("worker-down", "firing")
    assert alert["annotations"]["summary"] == "worker down: the run reported failure (/fail)"


def test_a_failure_of_another_run_ends_the_running_state_like_healthchecks(
    client: TestClient, clock: FrozenClock
) -> None:
    run_a, run_b, run_c = uuid4(), uuid4(), uuid4()
    assert client.post(f"/ping/{WORKER}/start?rid={run_a}").text == "OK"
    clock.advance(timedelta(minutes=1))
    assert client.post(f"/ping/{WORKER}/fail?rid={run_b}").text == "OK"
    assert client.get("/api/v1/checks/worker").json()["state"] == "down"
    clock.advance(timedelta(minutes=1))
    assert client.post(f"/ping/{WORKER}?rid={run_c}").text == "OK"
    assert client.get("/api/v1/checks/worker").json()["state"] == "up"
    success, fail, _ = _pings(client, "worker")
    assert (success["duration_ms"], fail["duration_ms"]) == (None, None)
    # No run is left open: past the start's grace the check is still up (healthchecks.io).
    with client.app.state.services.engine.connect() as conn:  # type: ignore[attr-defined]
        assert heartbeat_facts(conn, check_id="worker").last_start_at is None


def test_a_success_without_run_id_measures_no_run_started_with_one(
    client: TestClient, clock: FrozenClock
) -> None:
    assert client.post(f"/ping/{WORKER}/start?rid={uuid4()}").text == "OK"
    clock.advance(timedelta(seconds=42))
    assert client.post(f"/ping/{WORKER}").text == "OK"
    done, _ = _pings(client, "worker")
    assert done["duration_ms"] is None


def test_a_run_id_in_capitals_is_the_same_run(client: TestClient) -> None:
    rid = uuid4()
    assert client.post(f"/ping/{WORKER}/start?rid={str(rid).upper()}").text == "OK"
    assert client.post(f"/ping/{WORKER}?rid={rid}").text == "OK"
    done, start = _pings(client, "worker")
    assert (done["rid"], start["rid"]) == (str(rid), str(rid))
    assert done["duration_ms"] == 0.0


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
        "message": "no heartbeat check with this id in the config",
        "field": "check_id",
        "location": None,
    }


def test_the_pings_api_names_a_bad_parameter(client: TestClient) -> None:
    response = client.get("/api/v1/checks/worker/pings", params={"limit": 0})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "query.limit"


def test_the_pings_api_is_read_only(client: TestClient) -> None:
    assert client.post("/api/v1/checks/worker/pings").status_code == 405


XFF_CONFIG = f"""\
service: t
checks:
  worker: {{heartbeat: {{period: 5m, uuid: "{BACKUP}"}}}}
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("allow", "kept"),
    [
        # The default: the peer is loopback, a trusted proxy, so the nearest address it names
        # that is not itself trusted is kept; everything left of it the client could forge.
        (None, "198.51.100.2"),
        ("127.0.0.1,::1,198.51.100.0/24", "203.0.113.7"),
        ("", "127.0.0.1"),  # no trusted proxies: X-Forwarded-For is ignored
    ],
)
def test_the_address_kept_is_the_nearest_one_no_trusted_proxy_vouches_for(
    tmp_path: Path, sqlite_url: str, _migrated_sqlite: str, allow: str | None, kept: str
) -> None:
    shutil.copyfile(_migrated_sqlite, sqlite_url.removeprefix("sqlite:///"))
    engine = create_engine(sqlite_url)
    token = grant(engine, Role.VIEWER)
    engine.dispose()
    path = tmp_path / "opsbook.yaml"
    path.write_text(XFF_CONFIG, encoding="utf-8")
    env = serve_env(sqlite_url)
    env.pop("FORWARDED_ALLOW_IPS", None)
    if allow is not None:
        env["FORWARDED_ALLOW_IPS"] = allow
    server = Server(path, env=env)
    try:
        request = urllib.request.Request(
            f"{server.url}/ping/{BACKUP}",
            headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.2"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.read() == b"OK"
        status, found = server.request_json("GET", "/api/v1/checks/worker/pings", token=token)
        assert status == 200
        assert [p["remote_addr"] for p in found] == [kept]
    finally:
        server.close()


def test_pings_are_answered_before_the_router_and_the_rest_falls_through_to_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``web/lean_pings.py``: a ping never reaches FastAPI's routing (it is the hot path), and
    what is not a ping (another method, another shape) gets the router's answer as before."""
    routed: list[str] = []
    original = Router.__call__

    async def spy(self: Router, scope: Any, receive: Any, send: Any) -> None:
        routed.append(f"{scope['method']} {scope['path']}")
        await original(self, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", spy)
    for path in (
        f"/ping/{BACKUP}",
        f"/ping/{BACKUP}/",
        f"/ping/{BACKUP}/start",
        f"/ping/{KEY}/worker/fail/",
    ):
        assert client.get(path).text == "OK"
    assert client.post(f"/ping/{KEY}/hook", content=b"done").text == "OK"
    assert routed == []
    assert client.put(f"/ping/{BACKUP}").status_code == 405
    assert client.get(f"/ping/{KEY}/worker/fail/extra").status_code == 404
    assert client.get(f"/ping//{BACKUP}").status_code == 404
    assert routed == [
        f"PUT /ping/{BACKUP}",
        f"GET /ping/{KEY}/worker/fail/extra",
        f"GET /ping//{BACKUP}",
    ]
    assert [p["kind"] for p in _pings(client, "worker")] == ["fail"]
