"""The body limit of the routes FastAPI reads the body of (web/body_limit.py): 413 with the
error body before authentication or parsing, for a declared length and for a chunked body,
while the ingest and ping routes keep their own, larger limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from starlette.types import Message, Receive, Scope, Send

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.web.body_limit import DEFAULT_BODY_LIMIT_BYTES, BodyLimit

LIMIT = DEFAULT_BODY_LIMIT_BYTES
PROM_TOKEN = "prom-token-0123456789abc"
HOOK_TOKEN = "hook-token-0123456789abc"
PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
BACKUP = UUID("0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21")
CONFIG = Config.model_validate(
    dict(
        service="t",
        severities={"SEV1": {"respond_within": "15m"}, "SEV2": {"respond_within": "1h"}},
        integrations={
            "prom": {"alertmanager": {"token": PROM_TOKEN}},
            "pd": {"pagerduty": {"routing_key": PD_KEY}},
            "hook": {"webhook": {"token": HOOK_TOKEN}},
        },
        checks={"backup": {"heartbeat": {"period": "1h", "uuid": str(BACKUP)}}},
    )
)
JSON = {"Content-Type": "application/json"}
TOO_LARGE = {
    "error": {"message": "the body is larger than 64 KB", "field": "$", "location": "body"}
}


@pytest.fixture
def client(
    make_app: Callable[..., FastAPI], engine: Engine, clock: FrozenClock
) -> Iterator[TestClient]:
    """The app with an admin token (sent with every request: the limit is for everyone)."""
    with engine.begin() as conn:
        _, secret = accounts.create_token(
            conn,
            name="test",
            role=Role.ADMIN,
            person=None,
            expires_at=None,
            created_by="test",
            now=clock.now(),
        )
    app = make_app(str(engine.url), config=CONFIG, engine=engine)
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as client:
        yield client


def _incidents(client: TestClient) -> list[object]:
    response = client.get("/api/v1/incidents")
    assert response.status_code == 200, response.text
    found: list[object] = response.json()["incidents"]
    return found


def _incident(padding: int) -> bytes:
    """A valid incident whose summary makes the body ``padding`` bytes longer."""
    body = {"title": "db down", "severity": "SEV1", "summary": "x" * padding}
    return json.dumps(body).encode()


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    """An iterator body: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


# Through the app


def test_a_1_mb_incident_is_413_naming_the_limit_and_nothing_is_stored(
    client: TestClient,
) -> None:
    response = client.post("/api/v1/incidents", content=_incident(1024 * 1024), headers=JSON)
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert _incidents(client) == []


def test_the_limit_comes_before_authentication_and_parsing(client: TestClient) -> None:
    # No token and not JSON: under the limit the route refuses it (401); over it, the route
    # never runs, so a 413 costs neither a token lookup nor a parse.
    junk = b"\xff{" * LIMIT
    anonymous = {"Authorization": ""}
    assert client.post("/api/v1/incidents", content=junk[:100]).status_code == 400
    assert (
        client.post("/api/v1/incidents", content=junk[:100], headers=anonymous).status_code == 401
    )
    response = client.post("/api/v1/incidents", content=junk, headers=anonymous)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    for path in ("/api/v1/tokens", "/api/v1/users", "/api/v2/silences", "/login", "/ack/x"):
        assert client.post(path, content=junk, headers=anonymous).status_code == 413, path


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(client: TestClient) -> None:
    response = client.post(
        "/api/v1/incidents",
        content=_chunks(_incident(1024 * 1024)),
        headers=JSON,
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert _incidents(client) == []


def test_a_body_just_under_the_limit_reaches_the_route(client: TestClient) -> None:
    body = _incident(LIMIT - len(_incident(0)))
    assert len(body) == LIMIT
    response = client.post("/api/v1/incidents", content=body, headers=JSON)
    assert response.status_code == 201, response.text
    assert len(_incidents(client)) == 1


def test_the_ingest_routes_keep_their_larger_limits(client: TestClient) -> None:
    # Over the default, under each ingest route's own limit (and its 64 KB cap per value).
    big = {f"a{i}": "y" * (50 * 1024) for i in range(4)}
    prom = {"Authorization": f"Bearer {PROM_TOKEN}"}
    alerts = [{"labels": {"alertname": "Big", "severity": "SEV2"}, "annotations": big}]
    response = client.post("/api/v2/alerts", json=alerts, headers=prom)
    assert response.status_code == 200, response.text
    message = {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "opsbook",
        "alerts": [{"status": "firing", "labels": {"alertname": "Big2"}, "annotations": big}],
    }
    response = client.post("/api/v1/integrations/prom/alertmanager", json=message, headers=prom)
    assert response.status_code == 200, response.text
    hook = {"Authorization": f"Bearer {HOOK_TOKEN}"}
    alert = {"summary": "big", "key": "big", "severity": "SEV2", "annotations": big}
    response = client.post("/api/v1/integrations/hook/webhook", json=alert, headers=hook)
    assert response.status_code == 202, response.text
    event = {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "payload": {
            "summary": "big",
            "source": "db",
            "severity": "critical",
            "custom_details": big,
        },
    }
    response = client.post("/v2/enqueue", json=event)
    assert response.status_code == 202, response.text
    response = client.post(f"/ping/{BACKUP}", content=json.dumps(big).encode())
    assert (response.status_code, response.text) == (200, "OK")


def test_the_openapi_document_lists_413_for_every_operation_with_a_body(
    client: TestClient,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    with_body = [
        (path, method, operation["responses"])
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert ("/api/v1/incidents", "post") in {(p, m) for p, m, _ in with_body}
    assert [(p, m) for p, m, responses in with_body if "413" not in responses] == []


# The middleware alone: what it reads


class Route:
    """An ASGI app that reads the whole body, then answers 200 with its length."""

    def __init__(self) -> None:
        self.read = 0
        self.finished = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            self.read += len(message.get("body", b""))
            more = message.get("more_body", False)
        self.finished = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.read).encode()})


def _scope(path: str, *, length: int | None) -> Scope:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": headers}


async def _run(app: BodyLimit, scope: Scope, chunks: list[bytes]) -> tuple[list[Message], int]:
    """Feed ``chunks`` to ``app``; returns what it sent and how many chunks it took."""
    pending = list(chunks)
    sent: list[Message] = []

    async def receive() -> Message:
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, len(chunks) - len(pending)


async def test_a_declared_length_over_the_limit_is_answered_with_nothing_read() -> None:
    route = Route()
    sent, taken = await _run(
        BodyLimit(route, limit_bytes=10), _scope("/api/v1/incidents", length=11), [b"x" * 11]
    )
    assert (taken, route.read, route.finished) == (0, 0, False)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["message"] == "the body is larger than 0 KB"


@pytest.mark.parametrize(
    ("chunks", "status", "taken"),
    [
        ([b"12345", b"67890"], 200, 2),  # exactly the limit
        ([b"12345", b"678901", b"never read"], 413, 2),  # passes it in the second chunk
    ],
)
async def test_a_chunked_body_is_stopped_at_the_chunk_that_passes_the_limit(
    chunks: list[bytes], status: int, taken: int
) -> None:
    route = Route()
    sent, took = await _run(BodyLimit(route, limit_bytes=10), _scope("/x", length=None), chunks)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [status]
    assert took == taken
    assert route.finished is (status == 200)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/alerts",
        "/v2/enqueue",
        "/api/v1/integrations/prom/alertmanager",
        "/api/v1/integrations/hook/webhook",
        f"/ping/{BACKUP}/fail",
    ],
)
async def test_routes_with_their_own_limit_are_let_through(path: str) -> None:
    route = Route()
    sent, _ = await _run(BodyLimit(route, limit_bytes=10), _scope(path, length=20), [b"x" * 20])
    assert (sent[0]["status"], route.read) == (200, 20)


@pytest.mark.parametrize(
    "path", ["/api/v2/silences", "/api/v1/integrations/prom/other", "/api/v2/alerts/x"]
)
async def test_neighbours_of_those_routes_get_the_default(path: str) -> None:
    sent, _ = await _run(BodyLimit(Route(), limit_bytes=10), _scope(path, length=20), [b"x" * 20])
    assert sent[0]["status"] == 413
