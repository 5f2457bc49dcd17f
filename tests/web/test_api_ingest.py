"""The ingest endpoints over HTTP: auth, status codes and bodies the senders expect, durability
before the answer, idempotent retries, and nothing changed by a rejected request."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from alert_helpers import alertmanager_webhook, pagerduty_trigger
from opsbook.alerts.models import Alert, AlertStatus
from opsbook.alerts.service import list_alerts
from opsbook.config import Config

PROM_TOKEN = "prom-token-0123456789abc"
HOOK_TOKEN = "hook-token-0123456789abc"
HMAC_SECRET = "hmac-secret-0123456789abc"
PD_KEY = "e93facc04764012d7bfb002500d5d1a6"

CONFIG = Config.model_validate(
    {
        "service": "t",
        "integrations": {
            "prom": {"alertmanager": {"token": PROM_TOKEN}},
            "pd": {"pagerduty": {"routing_key": PD_KEY}},
            "hook": {"webhook": {"token": HOOK_TOKEN}},
            "signed": {"webhook": {"hmac_secret": HMAC_SECRET}},
            "both": {"webhook": {"token": HOOK_TOKEN + "x", "hmac_secret": HMAC_SECRET}},
        },
    }
)
BEARER = {"Authorization": f"Bearer {PROM_TOKEN}"}
CHALLENGE = 'Bearer realm="opsbook", Basic realm="opsbook"'

PROMETHEUS_BATCH = [
    {
        "labels": {"alertname": "HighLatency", "job": "api", "severity": "page"},
        "annotations": {"summary": "p95 is 2.4s"},
        "startsAt": "2025-12-31T23:58:00.123Z",
        "endsAt": "2026-01-01T00:04:00.123Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
    },
    {"labels": {"alertname": "Watchdog"}},
]
AM_WEBHOOK = alertmanager_webhook(
    starts_at="2025-12-31T23:59:10Z",
    receiver="opsbook",
    commonLabels={"alertname": "HealthCheckFailed"},
    notification_reason="first notification",
    routeLabels={},
)
PD_TRIGGER = pagerduty_trigger(PD_KEY)


class Waker:
    """Stands in for the alert engine: records, at each wake, what a fresh connection sees."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[int] = []

    def wake(self) -> None:
        with self.engine.connect() as conn:
            self.seen.append(len(list_alerts(conn, limit=1000)))


@pytest.fixture
def app(make_app: Callable[..., FastAPI], store_url: str) -> FastAPI:
    return make_app(store_url, config=CONFIG)


@pytest.fixture
def waker(app: FastAPI) -> Waker:
    services = app.state.services
    waker = Waker(services.engine)
    app.state.services = dataclasses.replace(services, alerts=waker)
    return waker


@pytest.fixture
def client(app: FastAPI, waker: Waker) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def stored(app: FastAPI) -> list[Alert]:
    with app.state.services.engine.connect() as conn:
        return sorted(list_alerts(conn, limit=1000), key=lambda a: a.id)


def error(message: str, field: str | None = None, location: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "field": field, "location": location}}


# POST /api/v2/alerts


def test_prometheus_batch_is_stored_before_an_empty_200(
    client: TestClient, app: FastAPI, waker: Waker
) -> None:
    response = client.post("/api/v2/alerts", json=PROMETHEUS_BATCH, headers=BEARER)
    assert (response.status_code, response.content) == (200, b"")
    assert [a.labels["alertname"] for a in stored(app)] == ["HighLatency", "Watchdog"]
    assert waker.seen == [2]  # woken after the commit: another connection sees both


def test_only_changes_dispatch_acts_on_wake_the_engine(
    client: TestClient, app: FastAPI, waker: Waker
) -> None:
    client.post("/api/v2/alerts", json=PROMETHEUS_BATCH, headers=BEARER)
    resent = copy.deepcopy(PROMETHEUS_BATCH)
    resent[0]["annotations"]["summary"] = "p95 is 2.5s"
    client.post("/api/v2/alerts", json=resent, headers=BEARER)  # a re-send: nothing to route
    assert waker.seen == [2]
    resent[1]["endsAt"] = "2025-12-31T23:59:00Z"
    client.post("/api/v2/alerts", json=resent, headers=BEARER)  # a resolve: dispatch sends it
    assert waker.seen == [2, 2]
    assert [a.status for a in stored(app)] == [AlertStatus.FIRING, AlertStatus.RESOLVED]


def test_basic_auth_with_the_token_as_password_works(client: TestClient, app: FastAPI) -> None:
    basic = base64.b64encode(f"prometheus:{PROM_TOKEN}".encode()).decode()
    response = client.post(
        "/api/v2/alerts", json=PROMETHEUS_BATCH, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200
    assert len(stored(app)) == 2


def test_a_retried_batch_leaves_one_open_alert_each(client: TestClient, app: FastAPI) -> None:
    for _ in range(3):
        assert client.post("/api/v2/alerts", json=PROMETHEUS_BATCH, headers=BEARER).is_success
    assert [a.status for a in stored(app)] == [AlertStatus.FIRING, AlertStatus.FIRING]


def test_concurrent_posts_of_one_new_alert_open_it_once(client: TestClient, app: FastAPI) -> None:
    statuses: list[int] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        response = client.post("/api/v2/alerts", json=PROMETHEUS_BATCH[:1], headers=BEARER)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6
    assert len(stored(app)) == 1


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {},
            "authentication required: send Authorization: Bearer <token> "
            "(an alertmanager integration's token)",
        ),
        (
            {"Authorization": "Bearer wrong-token-0123456789"},
            "the token does not belong to any alertmanager integration",
        ),
        (
            {"Authorization": f"Bearer {HOOK_TOKEN}"},  # a webhook integration's token
            "the token does not belong to any alertmanager integration",
        ),
        (
            {"Authorization": "Basic !!notbase64"},
            "authentication required: send Authorization: Bearer <token> "
            "(an alertmanager integration's token)",
        ),
        (
            {"Authorization": f"Token {PROM_TOKEN}"},
            "authentication required: send Authorization: Bearer <token> "
            "(an alertmanager integration's token)",
        ),
    ],
)
def test_it_refuses_posts_without_a_valid_token(
    client: TestClient, app: FastAPI, headers: dict[str, str], message: str
) -> None:
    response = client.post("/api/v2/alerts", json=PROMETHEUS_BATCH, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.json() == error(message)
    assert stored(app) == []


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        (
            b"[{",
            "$: not valid JSON (Expecting property name enclosed in double quotes at line 1 col 3)",
            "$",
        ),
        (b'{"labels": {}}', "$: must be an array of alerts, not an object", "$"),
        (
            json.dumps([{"labels": {"alertname": "X"}, "endsAt": "x"}, {"labels": {}}]).encode(),
            "$[0].endsAt: is not an RFC 3339 timestamp (e.g. 2026-11-22T13:09:10Z); "
            "$[1].labels: at least one label pair is required",
            "$[0].endsAt",
        ),
        (
            json.dumps([{"labels": {"alertname": "X", "n": 1}}]).encode(),
            "$[0].labels.n: must be a string, not a number",
            "$[0].labels.n",
        ),
    ],
)
def test_a_batch_with_no_valid_alert_is_400_naming_the_json_path_and_stores_nothing(
    client: TestClient, app: FastAPI, waker: Waker, body: bytes, message: str, field: str
) -> None:
    response = client.post("/api/v2/alerts", content=body, headers=BEARER)
    assert response.status_code == 400
    assert response.json() == error(message, field, "body")
    assert stored(app) == []
    assert waker.seen == []


def test_a_body_over_the_limit_is_413(client: TestClient) -> None:
    huge = b"[" + b" " * (2 * 1024 * 1024) + b"]"
    response = client.post("/api/v2/alerts", content=huge, headers=BEARER)
    assert response.status_code == 413
    assert response.json() == error("the body is larger than 2048 KB", "$", "body")


def test_get_on_the_post_only_paths_is_405(client: TestClient) -> None:
    assert client.get("/v2/enqueue").status_code == 405
    assert client.get("/api/v1/integrations/prom/alertmanager", headers=BEARER).status_code == 405


# POST /api/v1/integrations/{name}/alertmanager


def test_the_alertmanager_webhook_stores_the_alerts(client: TestClient, app: FastAPI) -> None:
    url = "/api/v1/integrations/prom/alertmanager"
    response = client.post(url, json=AM_WEBHOOK, headers=BEARER)
    assert (response.status_code, response.json()) == (200, {"received": 1})
    resolved = copy.deepcopy(AM_WEBHOOK)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-01-01T00:00:00Z"
    assert client.post(url, json=resolved, headers=BEARER).status_code == 200
    [found] = stored(app)
    assert (found.labels["alertname"], found.status) == ("HealthCheckFailed", AlertStatus.RESOLVED)


def test_the_alertmanager_webhook_needs_that_integrations_token(client: TestClient) -> None:
    url = "/api/v1/integrations/prom/alertmanager"
    response = client.post(url, json=AM_WEBHOOK)
    assert response.status_code == 401
    assert response.json() == error("send Authorization: Bearer <token> of integration 'prom'")
    response = client.post(url, json=AM_WEBHOOK, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


@pytest.mark.parametrize("name", ["nope", "pd", "hook"])
def test_the_alertmanager_webhook_of_an_unknown_integration_is_404(
    client: TestClient, name: str
) -> None:
    response = client.post(
        f"/api/v1/integrations/{name}/alertmanager", json=AM_WEBHOOK, headers=BEARER
    )
    assert response.status_code == 404
    assert response.json() == error("name: no alertmanager integration has that name", "name")


def test_a_bad_webhook_message_is_400_which_alertmanager_does_not_retry(
    client: TestClient, app: FastAPI
) -> None:
    body = AM_WEBHOOK | {"version": "5"}
    response = client.post("/api/v1/integrations/prom/alertmanager", json=body, headers=BEARER)
    assert response.status_code == 400
    assert response.json() == error(
        '$.version: must be "4" (the Alertmanager webhook payload version)', "$.version", "body"
    )
    assert stored(app) == []


# POST /v2/enqueue


def test_a_pagerduty_trigger_gets_pagerdutys_202(client: TestClient, app: FastAPI) -> None:
    response = client.post("/v2/enqueue", json=PD_TRIGGER)
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "srv01/HTTP",
    }
    assert client.post("/v2/enqueue", json=PD_TRIGGER).status_code == 202
    [found] = stored(app)
    assert (found.severity, found.dedup_key) == ("SEV1", "srv01/HTTP")


def test_a_trigger_without_dedup_key_gets_one_back(client: TestClient) -> None:
    body = {k: v for k, v in PD_TRIGGER.items() if k != "dedup_key"}
    key = client.post("/v2/enqueue", json=body).json()["dedup_key"]
    assert len(key) == 32
    assert client.post("/v2/enqueue", json=body).json()["dedup_key"] == key


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_of_unknown_keys_get_202(client: TestClient, action: str) -> None:
    body = {"routing_key": PD_KEY, "event_action": action, "dedup_key": "nobody"}
    response = client.post("/v2/enqueue", json=body)
    assert (response.status_code, response.json()["dedup_key"]) == (202, "nobody")


def test_acknowledge_then_resolve(client: TestClient, app: FastAPI) -> None:
    client.post("/v2/enqueue", json=PD_TRIGGER)
    for action in ("acknowledge", "resolve"):
        body = {"routing_key": PD_KEY, "event_action": action, "dedup_key": "srv01/HTTP"}
        assert client.post("/v2/enqueue", json=body).status_code == 202
    [found] = stored(app)
    assert found.status is AlertStatus.RESOLVED
    assert found.acknowledged_at is not None


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            PD_TRIGGER | {"routing_key": "samplekeyhere"},
            ["$.routing_key: length is incorrect (should be 32 characters)"],
        ),
        (
            PD_TRIGGER | {"event_action": "fire", "payload": {"summary": "x"}},
            ["$.event_action: must be one of trigger, acknowledge, resolve"],
        ),
        (
            PD_TRIGGER | {"payload": {"summary": "x", "severity": "high"}},
            [
                "$.payload.source: is missing or blank",
                "$.payload.severity: must be one of critical, error, warning, info",
            ],
        ),
        (
            PD_TRIGGER | {"routing_key": "f" * 32},
            ["$.routing_key: no pagerduty integration has this key"],
        ),
        ("not an object", ["$: must be an object, not a string"]),
    ],
)
def test_an_invalid_event_gets_pagerdutys_400(
    client: TestClient, app: FastAPI, body: object, errors: list[str]
) -> None:
    response = client.post("/v2/enqueue", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": errors,
    }
    assert stored(app) == []


def test_an_event_over_512_kb_is_413(client: TestClient) -> None:
    body = PD_TRIGGER | {"payload": PD_TRIGGER["payload"] | {"custom_details": "x" * 530_000}}
    response = client.post("/v2/enqueue", json=body)
    assert response.status_code == 413
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["$: the body is larger than 512 KB"],
    }


def test_the_routing_key_never_comes_back(client: TestClient) -> None:
    response = client.post("/v2/enqueue", json=PD_TRIGGER | {"event_action": "nope"})
    assert PD_KEY not in response.text


# POST /api/v1/integrations/{name}/webhook


def sign(body: bytes, secret: str = HMAC_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_webhook_alert_with_a_token_gets_202_with_its_id_and_key(
    client: TestClient, app: FastAPI
) -> None:
    body = [
        {"summary": "queue backlog", "key": "queue-1", "severity": "warning"},
        {"status": "resolved", "key": "never-seen"},
    ]
    response = client.post(
        "/api/v1/integrations/hook/webhook",
        json=body,
        headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
    )
    assert response.status_code == 202
    [found] = stored(app)
    assert response.json() == {
        "alerts": [
            {"id": found.id, "key": "queue-1", "status": "firing"},
            {"id": None, "key": "never-seen", "status": "resolved"},
        ]
    }
    assert found.severity == "SEV3"


def test_a_signed_webhook_is_accepted_and_a_badly_signed_one_is_401(
    client: TestClient, app: FastAPI
) -> None:
    body = json.dumps({"summary": "disk full", "labels": {"host": "db-1"}}).encode()
    url = "/api/v1/integrations/signed/webhook"
    ok = client.post(url, content=body, headers={"X-Opsbook-Signature": sign(body)})
    assert ok.status_code == 202
    message = (
        "send X-Opsbook-Signature: sha256=<hex HMAC-SHA256 of the body> "
        "made with the hmac_secret of integration 'signed'"
    )
    for headers in ({}, {"X-Opsbook-Signature": sign(body, "another-secret-0123456")}):
        response = client.post(url, content=body, headers=headers)
        assert (response.status_code, response.json()) == (401, error(message))
    assert len(stored(app)) == 1


def test_with_token_and_secret_both_are_required(client: TestClient, app: FastAPI) -> None:
    body = json.dumps({"summary": "x"}).encode()
    url = "/api/v1/integrations/both/webhook"
    token = {"Authorization": f"Bearer {HOOK_TOKEN}x"}
    assert client.post(url, content=body, headers=token).status_code == 401
    assert (
        client.post(url, content=body, headers={"X-Opsbook-Signature": sign(body)}).status_code
        == 401
    )
    signed = token | {"X-Opsbook-Signature": sign(body)}
    assert client.post(url, content=body, headers=signed).status_code == 202


def test_a_webhook_with_the_wrong_token_is_401(client: TestClient, app: FastAPI) -> None:
    response = client.post(
        "/api/v1/integrations/hook/webhook",
        json={"summary": "x"},
        headers={"Authorization": f"Bearer {PROM_TOKEN}"},
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert PROM_TOKEN not in response.text
    assert stored(app) == []


def test_a_bad_webhook_alert_is_400_naming_the_path(client: TestClient, app: FastAPI) -> None:
    response = client.post(
        "/api/v1/integrations/hook/webhook",
        json=[{"summary": "ok"}, {"summary": "x", "severity": "urgent"}],
        headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json() == error(
        "$[1].severity: must be one of SEV1, SEV2, SEV3, SEV4, critical, error, warning, info"
        "; 1 of 2 alerts stored",
        "$[1].severity",
        "body",
    )
    assert [a.annotations["summary"] for a in stored(app)] == ["ok"]


def test_a_webhook_body_over_1_mb_is_413(client: TestClient, app: FastAPI) -> None:
    body = json.dumps({"summary": "x" * (1024 * 1024)}).encode()
    response = client.post(
        "/api/v1/integrations/hook/webhook",
        content=body,
        headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
    )
    assert response.status_code == 413
    assert response.json() == error("the body is larger than 1024 KB", "$", "body")
    assert stored(app) == []


def test_the_webhook_of_an_unknown_integration_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/integrations/prom/webhook", json={"summary": "x"})
    assert response.status_code == 404
    assert response.json() == error("name: no webhook integration has that name", "name")
